"""Each validation message, at its YAML path (one test per message and path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Problems = Callable[..., list[str]]


def test_example_has_no_problems(problems: Problems, example: dict[str, Any]) -> None:
    assert problems(example) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(dexx={}), "dexx: unknown key 'dexx'; did you mean 'dex'?"),
        (
            lambda d: d["dex"]["ingress"].update(hots="x"),
            "dex.ingress.hots: unknown key 'hots'; did you mean 'host'?",
        ),
        (
            lambda d: d["dex"]["clients"][2].update(secrett="x"),
            "dex.clients[2].secrett: unknown key 'secrett'; did you mean 'secret'?",
        ),
        (
            lambda d: d["iap"]["deployments"]["prometheus"]["ingress"].update(hots="x"),
            "iap.deployments.prometheus.ingress.hots: unknown key 'hots'; did you mean 'host'?",
        ),
        (
            lambda d: d["dex"]["expiry"].update(refreshTokens={"reuseIntervall": "3s"}),
            "dex.expiry.refreshTokens.reuseIntervall: unknown key 'reuseIntervall'; "
            "did you mean 'reuseInterval'?",
        ),
        (
            lambda d: d.update(idgate={"listne": "127.0.0.1:1"}),
            "idgate.listne: unknown key 'listne'; did you mean 'listen'?",
        ),
    ],
    ids=["root", "dex.ingress", "dex.clients", "deployment.ingress", "expiry.refreshTokens", "idgate"],
)
def test_unknown_key_says_did_you_mean_at_any_depth(
    problems: Problems, example: dict[str, Any], edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    edit(example)
    assert problems(example) == [expected]


def test_unknown_key_without_close_match_lists_the_known_keys(problems: Problems) -> None:
    from idgate.config.server import IdgateSection

    known = IdgateSection.known_keys()  # the section grows; the message lists every key, in order
    assert known[:2] == ["listen", "health_listen"] and "data_dir" in known
    assert problems({"idgate": {"zzz": 1}}) == [
        f"idgate.zzz: unknown key 'zzz' (expected one of: {', '.join(known)})"
    ]


def test_wrong_types_say_what_was_expected(problems: Problems, example: dict[str, Any]) -> None:
    prometheus = example["iap"]["deployments"]["prometheus"]
    prometheus["upstream_port"] = "9090"
    prometheus["config"]["pass_user_headers"] = "yes"
    example["dex"]["clients"][0]["RedirectURIs"] = "https://kkp.example.com"
    example["dex"]["connectors"] = {"type": "github"}
    assert problems(example) == [
        "dex.connectors: expected a list, got a mapping",
        "dex.clients[0].RedirectURIs: expected a list, got a string",
        "iap.deployments.prometheus.upstream_port: expected an integer, got a string",
        "iap.deployments.prometheus.config.pass_user_headers: expected true or false, got a string",
    ]


def test_wrong_type_never_echoes_the_value(problems: Problems, example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["client_secret"] = 12345678
    [problem] = problems(example)
    assert problem == "iap.deployments.grafana.client_secret: expected a string, got an integer"


@pytest.mark.parametrize("key", ["abcdefghijkl", "x" * 33])
def test_encryption_key_length(problems: Problems, example: dict[str, Any], key: str) -> None:
    example["iap"]["deployments"]["prometheus"]["encryption_key"] = key
    assert problems(example) == [
        f"iap.deployments.prometheus.encryption_key: must be 16, 24 or 32 characters, got {len(key)} "
        "(`idgate secret` makes one of 32)"
    ]


def test_a_missing_encryption_key_says_what_it_takes(problems: Problems, example: dict[str, Any]) -> None:
    del example["iap"]["deployments"]["prometheus"]["encryption_key"]
    assert problems(example) == [
        "iap.deployments.prometheus.encryption_key: required key is missing: 16, 24 or 32 characters "
        "(`idgate secret` makes one of 32)"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6 hours", "invalid duration '6 hours': expected a Go duration such as 90s, 1h30m or 24h"),
        ("7d", "invalid duration '7d': expected a Go duration such as 90s, 1h30m or 24h"),
        ("-1h", "invalid duration '-1h': must not be negative"),
        (24, "expected a duration string such as 90s or 24h, got an integer"),
    ],
)
def test_bad_duration(problems: Problems, example: dict[str, Any], value: object, expected: str) -> None:
    example["dex"]["expiry"]["idTokens"] = value
    assert problems(example) == [f"dex.expiry.idTokens: {expected}"]


def test_bad_cookie_expire_duration(problems: Problems, example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["config"]["cookie_expire"] = "1 week"
    [problem] = problems(example)
    assert problem.startswith("iap.deployments.grafana.config.cookie_expire: invalid duration '1 week'")


def test_bad_regex_names_path_index_and_regex_error(problems: Problems, example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["config"]["skip_auth_regex"] = ["/ok", "/api/(health"]
    assert problems(example) == [
        "iap.deployments.grafana.config.skip_auth_regex[1]: invalid regular expression '/api/(health': "
        "missing ), unterminated subpattern at position 5"
    ]


@pytest.mark.parametrize(
    "key",
    ["name", "client_id", "client_secret", "encryption_key", "upstream_service", "upstream_port", "ingress"],
)
def test_required_deployment_keys(problems: Problems, example: dict[str, Any], key: str) -> None:
    del example["iap"]["deployments"]["alertmanager"][key]
    hint = ": 16, 24 or 32 characters (`idgate secret` makes one of 32)" if key == "encryption_key" else ""
    assert problems(example) == [f"iap.deployments.alertmanager.{key}: required key is missing{hint}"]


def test_required_ingress_host(problems: Problems, example: dict[str, Any]) -> None:
    del example["iap"]["deployments"]["alertmanager"]["ingress"]["host"]
    assert problems(example) == ["iap.deployments.alertmanager.ingress.host: required key is missing"]


def test_dex_host_required_when_dex_has_clients(problems: Problems, example: dict[str, Any]) -> None:
    del example["dex"]["ingress"]["host"]
    assert problems(example) == [
        "dex.ingress.host: required when dex has clients, staticPasswords or connectors "
        "(it makes the issuer URL)"
    ]


def test_dex_host_not_required_for_a_bare_dex_section(problems: Problems) -> None:
    assert problems({"dex": {"replicas": 1}}) == []


def test_issuer_url_required_when_there_are_deployments(problems: Problems, example: dict[str, Any]) -> None:
    del example["iap"]["oidc_issuer_url"]
    [problem] = problems(example)
    assert problem.startswith("iap.oidc_issuer_url: required when iap has deployments")


def test_either_section_may_be_absent(problems: Problems, example: dict[str, Any]) -> None:
    assert problems({"iap": example["iap"]}) == []
    assert problems({"dex": example["dex"]}) == []
    assert problems("") == []


def test_connector_type_must_be_known(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["connectors"][0]["type"] = "githb"
    assert problems(example) == [
        "dex.connectors[0].type: unknown connector type 'githb'; did you mean 'github'? "
        "(known: local, github, ldap, oidc, gitlab, google)"
    ]


def test_static_password_hash_must_be_bcrypt(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["staticPasswords"][0]["hash"] = "password"
    assert problems(example) == [
        "dex.staticPasswords[0].hash: expected a bcrypt hash such as $2a$10$... (or its base64 encoding)"
    ]


def test_scheme_is_http_or_https(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["ingress"]["scheme"] = "ftp"
    assert problems(example) == ["dex.ingress.scheme: expected 'http' or 'https', got 'ftp'"]


class TestProxyOptions:
    """Keys inside a deployment's ``config``: implemented, fixed by the chart, unsupported, unknown."""

    def test_unsupported_oauth2_proxy_option_is_named(
        self, problems: Problems, example: dict[str, Any]
    ) -> None:
        example["iap"]["deployments"]["grafana"]["config"]["htpasswd_file"] = "/etc/htpasswd"
        assert problems(example) == [
            "iap.deployments.grafana.config.htpasswd_file: 'htpasswd_file' is an OAuth2-Proxy option "
            "that is not supported by idgate"
        ]

    def test_unknown_option_says_did_you_mean(self, problems: Problems, example: dict[str, Any]) -> None:
        example["iap"]["deployments"]["grafana"]["config"]["emial_domains"] = ["*"]
        assert problems(example) == [
            "iap.deployments.grafana.config.emial_domains: unknown option 'emial_domains' "
            "(not an OAuth2-Proxy option); did you mean 'email_domains'?"
        ]

    def test_gatekeeper_scopes_suggests_scope(self, problems: Problems, example: dict[str, Any]) -> None:
        example["iap"]["deployments"]["grafana"]["config"]["scopes"] = ["groups"]
        [problem] = problems(example)
        assert problem.endswith("did you mean 'scope'?")

    def test_option_fixed_by_the_chart(self, problems: Problems, example: dict[str, Any]) -> None:
        example["iap"]["deployments"]["grafana"]["config"]["proxy_prefix"] = "/oauth2"
        assert problems(example) == [
            "iap.deployments.grafana.config.proxy_prefix: 'proxy_prefix' is set by the iap chart itself "
            "(--proxy-prefix=/oauth) and has no effect in config; remove it"
        ]

    def test_default_configuration_is_validated_at_its_own_path(
        self, problems: Problems, example: dict[str, Any]
    ) -> None:
        example["iap"]["default_configuration"] = {"htpasswd_file": "x"}
        [problem] = problems(example)
        assert problem.startswith("iap.default_configuration.htpasswd_file: 'htpasswd_file' is an")


class TestIdgateSection:
    def test_defaults(self, analyse: Callable[..., Any]) -> None:
        config, found = analyse({})
        assert found == []
        assert config.idgate.listen == "127.0.0.1:4180"
        assert config.idgate.sessions == "cookie"
        assert config.idgate.data_dir == "./data"
        assert config.idgate.workers == 1
        assert config.idgate.storage_url == "sqlite:///./data/idgate.db"

    def test_storage_follows_data_dir(self, analyse: Callable[..., Any]) -> None:
        config, _ = analyse({"idgate": {"data_dir": "/var/lib/idgate"}})
        assert config.idgate.storage_url == "sqlite:////var/lib/idgate/idgate.db"

    @pytest.mark.parametrize(
        ("section", "expected"),
        [
            (
                {"listen": "4180"},
                "idgate.listen: expected host:port such as 127.0.0.1:4180 or [::]:4180, got '4180'",
            ),
            (
                {"listen": "0.0.0.0:99999"},
                "idgate.listen: expected host:port such as 127.0.0.1:4180 or [::]:4180, got '0.0.0.0:99999'",
            ),
            (
                {"storage": "mysql://u:pw@db/x"},
                "idgate.storage: expected sqlite:///PATH or postgresql://USER@HOST/DB, got scheme 'mysql'",
            ),
            (
                {"storage": "sqlite://relative"},
                "idgate.storage: expected sqlite:///PATH or postgresql://USER@HOST/DB, got scheme 'sqlite'",
            ),
            (
                {"sessions": "memcached://x"},
                "idgate.sessions: expected 'cookie' or a redis://HOST:PORT/DB URL",
            ),
            ({"workers": 0}, "idgate.workers: must be >= 1"),
            ({"workers": "2"}, "idgate.workers: expected an integer, got a string"),
        ],
    )
    def test_bad_values(self, problems: Problems, section: dict[str, Any], expected: str) -> None:
        assert problems({"idgate": section}) == [expected]

    def test_storage_url_with_password_is_not_echoed(self, problems: Problems) -> None:
        [problem] = problems({"idgate": {"storage": "mysql://user:hunter2@db/x"}})
        assert "hunter2" not in problem

    @pytest.mark.parametrize(
        "url", ["postgresql://idgate@db/idgate", "sqlite:////abs/x.db", "redis://r:6379/0"]
    )
    def test_good_urls(self, problems: Problems, url: str) -> None:
        key = "sessions" if url.startswith("redis") else "storage"
        assert problems({"idgate": {key: url}}) == []


def test_all_problems_are_reported_at_once(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["ingress"]["hots"] = "x"
    example["iap"]["deployments"]["prometheus"]["encryption_key"] = "short"
    example["iap"]["deployments"]["grafana"]["config"]["skip_auth_regex"] = ["("]
    found = problems(example)
    assert len(found) == 3
    assert [p.split(":")[0] for p in found] == [
        "dex.ingress.hots",
        "iap.deployments.grafana.config.skip_auth_regex[0]",
        "iap.deployments.prometheus.encryption_key",
    ]


def test_a_static_password_email_must_be_one_usable_address(
    problems: Problems, example: dict[str, Any]
) -> None:
    example["dex"]["staticPasswords"][0]["email"] = "attacker@evil.com@example.com"
    assert problems(example) == [
        "dex.staticPasswords[0].email: expected one email address such as jane@example.com: more than one @"
    ]

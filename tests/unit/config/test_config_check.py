"""The cross-section checks (kkp-values.md §6): each one firing, and staying quiet when all is well.

These are the checks every command runs (``check(config, "serve")``); what ``render kubernetes`` adds,
and how ``idgate check`` reports it, is ``test_one_validation.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idgate.config import build_settings, check

Analyse = Callable[..., Any]
Found = list[tuple[str, str]]


@pytest.fixture
def cross(analyse: Analyse) -> Callable[[dict[str, Any]], Found]:
    """Load (which must succeed) and run :func:`check`: ``[(severity, "path: message"), ...]``."""

    def run(data: dict[str, Any]) -> Found:
        config, found = analyse(data)
        assert found == [], found
        return [(p.severity, str(p)) for p in check(config, "serve")]

    return run


def test_example_is_clean(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    assert cross(example) == []


@pytest.fixture
def revocations(analyse: Analyse) -> Callable[[dict[str, Any]], Found]:
    """What ``idgate check`` (``check(config)``) says about replicas that cannot share sign-outs (a rule of
    :mod:`idgate.deploy.rules`, reported as ``render kubernetes: ...``)."""

    def run(data: dict[str, Any]) -> Found:
        config, found = analyse(data)
        assert found == [], found
        return [(p.severity, str(p)) for p in check(config) if "revocation list" in p.message]

    return run


def test_the_example_as_written(
    cross: Callable[[dict[str, Any]], Found],
    revocations: Callable[[dict[str, Any]], Found],
    example: dict[str, Any],
) -> None:
    """``iap.replicas: 2`` with cookie sessions and SQLite: sign-out reaches one replica only."""
    example["iap"]["replicas"] = 2
    assert cross(example) == []  # idgate serve on one host: its workers share the SQLite file
    found = revocations(example)
    assert [s for s, _ in found] == ["warning"]
    assert found[0][1].startswith(
        "iap.replicas: render kubernetes: 2 replicas of 'alertmanager', 'grafana', 'prometheus' keep "
        "sessions in cookies without a shared revocation list: a signed-out cookie is refused only by"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"idgate": {"storage": "postgresql://idgate@db.example/idgate"}},  # shared by the replicas
        {"idgate": {"sessions": "redis://redis.example:6379/0"}},  # sign-out deletes the session
        {},  # replicas not written: idgate serve on one host (render counts the chart's 2)
    ],
)
def test_replicas_that_share_revocations_or_redis_sessions_are_fine(
    revocations: Callable[[dict[str, Any]], Found], example: dict[str, Any], change: dict[str, Any]
) -> None:
    example["iap"]["replicas"] = 3
    if not change:
        del example["iap"]["replicas"]
    example.update(change)
    assert revocations(example) == []


def test_a_deployments_own_replicas_decide(
    revocations: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["replicas"] = 2
    example["iap"]["deployments"]["alertmanager"]["config"]["session_store_type"] = "redis"
    example["iap"]["deployments"]["alertmanager"]["config"]["redis_connection_url"] = "redis://r:6379/0"
    example["iap"]["deployments"]["alertmanager"]["replicas"] = 2
    assert [m.split(": ")[0] for _, m in revocations(example)] == ["iap.deployments.grafana.replicas"]


def test_unknown_client_id(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["client_id"] = "graphana"
    assert cross(example) == [
        ("error", "iap.deployments.grafana.client_id: no client with id 'graphana' in dex.clients")
    ]


def test_client_id_not_checked_without_dex_clients(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["client_id"] = "elsewhere"
    assert cross({"iap": example["iap"]}) == []


def test_secret_mismatch_never_prints_secrets(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["client_secret"] = "WRONGwrongWRONGwrong"
    found = cross(example)
    assert found == [
        (
            "error",
            "iap.deployments.grafana.client_secret: does not match the secret of dex.clients[4] "
            "(id 'grafana')",
        )
    ]
    assert "WRONG" not in found[0][1] and "Gf5tR1" not in found[0][1]


def test_public_client_secret_is_not_compared(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["clients"][4].update(public=True, secret="")
    assert cross(example) == []


def test_redirect_uri_missing(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    example["dex"]["clients"][2]["RedirectURIs"] = ["https://prometheus.kkp.example.com/oauth2/callback"]
    assert cross(example) == [
        (
            "error",
            "dex.clients[2].RedirectURIs: does not contain "
            "https://prometheus.kkp.example.com/oauth/callback, the callback of iap.deployments.prometheus",
        )
    ]


def test_redirect_uri_follows_redirect_url(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["config"]["redirect_url"] = (
        "https://g.example.com/oauth/callback"
    )
    [(_, message)] = cross(example)
    assert message == (
        "dex.clients[4].RedirectURIs: does not contain https://g.example.com/oauth/callback, "
        "the callback of iap.deployments.grafana (config.redirect_url)"
    )
    example["dex"]["clients"][4]["RedirectURIs"] = ["https://g.example.com/oauth/callback"]
    assert cross(example) == []


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("grafana.localhost:4180", True),
        ("localhost:8080", True),
        ("127.0.0.1:4180", True),
        ("[::1]:4180", True),
        ("grafana.kkp.example.com", False),
    ],
)
def test_plain_http_callback_allowed_for_local_hosts(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any], host: str, allowed: bool
) -> None:
    example["iap"]["deployments"]["grafana"]["ingress"]["host"] = host
    example["dex"]["clients"][4]["RedirectURIs"] = [f"http://{host}/oauth/callback"]
    assert (cross(example) == []) is allowed


def test_plain_http_callback_allowed_when_the_provider_is_http(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["ingress"]["scheme"] = "http"
    example["iap"]["oidc_issuer_url"] = "http://kkp.example.com/dex"
    example["dex"]["clients"][4]["RedirectURIs"] = ["http://grafana.kkp.example.com/oauth/callback"]
    # grafana's callback matches and its registration is only warned about; the other deployments registered
    # https, which an http provider makes unlikely (tests/unit/config/test_expected_callback.py)
    [(severity, message)] = [f for f in cross(example) if f[1].startswith("dex.clients[4]")]
    assert severity == "warning" and message.startswith("dex.clients[4].RedirectURIs[0]: "), message


def test_dangerous_redirect_uris_are_errors_at_their_path(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["clients"][0]["RedirectURIs"] += ["javascript:alert(1)", "https://kkp.example.com/#x"]
    example["dex"]["clients"][1]["postLogoutRedirectURIs"] = ["data:text/html,hi", "/signed-out"]
    found = cross(example)
    assert [(severity, message.split(":", 1)[0]) for severity, message in found] == [
        ("error", "dex.clients[0].RedirectURIs[2]"),
        ("error", "dex.clients[0].RedirectURIs[3]"),
        ("error", "dex.clients[1].postLogoutRedirectURIs[0]"),
        ("error", "dex.clients[1].postLogoutRedirectURIs[1]"),
    ]
    assert "'javascript:alert(1)' uses the javascript: scheme" in found[0][1]
    assert "fragment" in found[1][1] and "not an absolute URI" in found[3][1]


def test_plain_http_redirect_uri_elsewhere_is_a_warning(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["clients"][0]["RedirectURIs"] = ["http://kkp.example.com/cb", "http://127.0.0.1:8000/cb"]
    assert cross(example) == [
        (
            "warning",
            "dex.clients[0].RedirectURIs[0]: 'http://kkp.example.com/cb' is plain http to a host that is not "
            "loopback: the authorization code crosses the network unencrypted; use https (plain http is for "
            "127.0.0.1, [::1], localhost and *.localhost)",
        )
    ]


def test_issuer_url_must_match_the_dex_issuer(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["oidc_issuer_url"] = "https://kkp.example.com/auth"
    assert cross(example) == [
        (
            "error",
            "iap.oidc_issuer_url: is https://kkp.example.com/auth, but the issuer made by "
            "dex.ingress is https://kkp.example.com/dex",
        )
    ]
    example["iap"]["oidc_issuer_url"] = "https://kkp.example.com/dex/"
    assert cross(example) == []


def test_placeholder_issuer(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    example["iap"]["oidc_issuer_url"] = "https://kubermatic.tld/dex"
    assert cross(example) == [
        (
            "error",
            "iap.oidc_issuer_url: is the chart's placeholder https://kubermatic.tld/dex; "
            "set it to https://kkp.example.com/dex",
        )
    ]
    [(severity, _)] = cross({"iap": example["iap"]})
    assert severity == "error"


def test_hosts_must_be_unique(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["ingress"]["host"] = "Alertmanager.kkp.example.com"
    found = cross(example)
    assert (
        "error",
        "iap.deployments.grafana.ingress.host: same host as iap.deployments.alertmanager",
    ) in found


def test_names_must_be_unique(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["name"] = "alertmanager"
    assert cross(example) == [
        (
            "error",
            "iap.deployments.grafana.name: 'alertmanager' is also the name of "
            "iap.deployments.alertmanager (objects and the cookie are named after it)",
        )
    ]


def test_client_ids_must_be_unique(cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]) -> None:
    example["dex"]["clients"][1]["id"] = "kubermatic"
    assert cross(example) == [("error", "dex.clients[1].id: 'kubermatic' is also the id of dex.clients[0]")]


def test_client_secrets_should_differ(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["clients"][1]["secret"] = example["dex"]["clients"][0]["secret"]
    assert cross(example) == [
        (
            "warning",
            "dex.clients[1].secret: same secret as dex.clients[0]; each client should have its "
            "own credentials (`idgate secret` makes one)",
        )
    ]


def test_encryption_keys_should_differ(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    deps = example["iap"]["deployments"]
    deps["prometheus"]["encryption_key"] = deps["alertmanager"]["encryption_key"]
    assert cross(example) == [
        (
            "warning",
            "iap.deployments.prometheus.encryption_key: same key as iap.deployments.alertmanager; "
            "give each deployment its own",
        )
    ]


@pytest.mark.parametrize("config", [{}, {"scope": "openid email"}, {"email_domains": []}])
def test_no_restriction_lets_nobody_in(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any], config: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["config"] = config
    assert cross(example) == [
        (
            "warning",
            "iap.deployments.grafana.config.email_domains: this deployment lets nobody in: no "
            "email_domains, allowed_groups or github_org (OAuth2-Proxy authorises no one; "
            "email_domains: ['*'] allows any verified email)",
        )
    ]


@pytest.mark.parametrize(
    "config", [{"email_domains": ["*"]}, {"allowed_groups": ["org:team"]}, {"github_org": "org"}]
)
def test_any_restriction_is_enough(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any], config: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["config"] = config
    assert cross(example) == []


def test_email_domains_from_default_configuration_count(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["default_configuration"] = {"email_domains": ["*"]}
    example["iap"]["deployments"]["grafana"]["config"] = {"scope": "openid email"}
    assert cross(example) == []


def test_github_team_needs_github_org(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    del example["iap"]["deployments"]["prometheus"]["config"]["github_org"]
    assert cross(example) == [
        (
            "error",
            "iap.deployments.prometheus.config.github_team: needs github_org (teams are matched as "
            "the group 'org:team')",
        )
    ]


def test_nobody_can_log_in_without_connectors_or_passwords(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    del example["dex"]["connectors"], example["dex"]["staticPasswords"]
    assert cross(example) == [
        ("warning", "dex: clients but no connectors or staticPasswords: nobody can log in")
    ]


def test_refresh_tokens_that_do_not_rotate_are_warned_about(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["expiry"] = {"refreshTokens": {"disableRotation": True}}
    [(severity, message)] = cross(example)
    assert severity == "warning"
    assert message.startswith("dex.expiry.refreshTokens.disableRotation: refresh tokens do not rotate")


def test_ignored_keys_are_warned_about(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["discovery_url"] = "https://kkp.example.com/dex/.well-known/openid-configuration"
    example["iap"]["deployments"]["grafana"]["passthrough"] = ["/api/health"]
    example["iap"]["deployments"]["grafana"]["config"]["cookie_name"] = "_g"
    assert [m.split(":")[0] for s, m in cross(example) if s == "warning"] == [
        "iap.discovery_url",
        "iap.deployments.grafana.config.cookie_name",
        "iap.deployments.grafana.passthrough",
    ]


def test_deployment_on_the_provider_host(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["ingress"]["host"] = "kkp.example.com"
    example["dex"]["clients"][4]["RedirectURIs"] = ["https://kkp.example.com/oauth/callback"]
    [(severity, message)] = cross(example)
    assert severity == "warning" and message.startswith(
        "iap.deployments.grafana.ingress.host: is the provider"
    )


def test_empty_file_has_nothing_to_serve(cross: Callable[[dict[str, Any]], Found]) -> None:
    assert cross({}) == [("warning", "<root>: neither a dex nor an iap section: nothing to serve")]


HOST_RULE = "with cookie_name '__Host-g': a __Host- cookie is Secure, Path=/ and has no Domain"


def test_host_prefix_cookie_is_refused_with_domain_path_or_insecure(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    grafana = example["iap"]["deployments"]["grafana"]["config"]
    grafana.update(
        cookie_name="__Host-g", cookie_domains=["example.com"], cookie_path="/grafana", cookie_secure=False
    )
    at = "iap.deployments.grafana.config"
    assert [f for f in cross(example) if f[0] == "error"] == [
        ("error", f"{at}.cookie_domains: must be empty {HOST_RULE} (browsers refuse it otherwise)"),
        ("error", f"{at}.cookie_path: must be / {HOST_RULE} (browsers refuse it otherwise)"),
        ("error", f"{at}.cookie_secure: must not be false {HOST_RULE} (browsers refuse it otherwise)"),
    ]


def test_host_prefix_conflict_from_default_configuration_is_reported_there(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"].setdefault("default_configuration", {})["cookie_domains"] = ["example.com"]
    example["iap"]["deployments"]["grafana"]["config"]["cookie_name"] = "__host-g"  # any letter case
    errors = [m for s, m in cross(example) if s == "error"]
    assert errors == [
        "iap.default_configuration.cookie_domains: must be empty with cookie_name '__host-g': "
        "a __Host- cookie is Secure, Path=/ and has no Domain (browsers refuse it otherwise)"
    ]


@pytest.mark.parametrize("extra", [{}, {"cookie_path": "/", "cookie_secure": True}])
def test_host_prefix_cookie_that_fits_is_accepted_without_suggestions(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any], extra: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["config"].update(cookie_name="__Host-g", **extra)
    assert [m.split(":")[0] for _, m in cross(example)] == ["iap.deployments.grafana.config.cookie_name"]
    secure = example["iap"]["deployments"]["grafana"]["config"]
    secure.update(cookie_name="__Secure-g", cookie_domains=["example.com"], cookie_path="/g")
    assert [s for s, _ in cross(example)] == ["warning"]  # only "had no effect in the chart"


def test_redis_sessions_take_the_url_from_the_default_configuration(
    cross: Callable[[dict[str, Any]], Found], analyse: Analyse, example: dict[str, Any]
) -> None:
    """As the chart merges ``iap.default_configuration`` under each deployment's ``config``, the Redis URL
    may live there while a deployment asks for Redis; without a URL anywhere the key is named."""
    example["iap"]["deployments"]["alertmanager"]["config"]["session_store_type"] = "redis"
    assert cross(example) == [
        (
            "error",
            "iap.deployments.alertmanager.config.session_store_type: session_store_type redis needs "
            "redis_connection_url (redis://host:6379/0), here or in iap.default_configuration",
        )
    ]
    example["iap"]["default_configuration"] = {"redis_connection_url": "redis://r:6379/0"}
    assert cross(example) == []
    config, _ = analyse(example)
    stores = {p.name: p.session_store for p in build_settings(config).proxies}
    assert stores["alertmanager"] == "redis://r:6379/0"

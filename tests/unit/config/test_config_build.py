"""The kkp-values.md §6 example builds the expected runtime settings; default_configuration merge rules."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from idgate.config import build_settings, check, load_config
from idgate.config.kkp import effective_options
from idgate.config.types import cookie_secret_bytes, parse_duration
from idgate.settings import ClientSettings

EXAMPLE_PATH = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"

Analyse = Callable[..., Any]


def test_example_loads_clean_and_builds_the_expected_settings() -> None:
    config = load_config(EXAMPLE_PATH)
    assert check(config, "serve") == []  # render kubernetes: tests/unit/config/test_one_validation.py
    # idgate check adds what render kubernetes says: two provider replicas on SQLite (would refuse), and
    # two proxy replicas on SQLite that cannot share the revocation list (each deployment); and that the
    # static password is bcrypt("password")
    assert {(p.path, p.severity) for p in check(config)} == {
        ("idgate.storage", "warning"),
        ("iap.replicas", "warning"),
        ("dex.staticPasswords[0].hash", "warning"),
    }
    settings = build_settings(config)
    provider = settings.provider
    assert provider is not None
    assert provider.issuer == "https://kkp.example.com/dex"
    assert (provider.host, provider.path) == ("kkp.example.com", "/dex")
    assert [c.id for c in provider.clients] == [
        "kubermatic",
        "kubermaticIssuer",
        "prometheus",
        "alertmanager",
        "grafana",
    ]
    assert provider.clients[2] == ClientSettings(
        id="prometheus",
        secret="Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX",
        name="Prometheus",
        redirect_uris=("https://prometheus.kkp.example.com/oauth/callback",),
    )
    [admin] = provider.static_passwords
    assert admin.hash == b"$2a$10$zMJhg/3axbm/m0KmoVxJiO1eO5gtNrgKDysy5GafQFrXY93OE9LsK"
    assert (admin.email, admin.username, admin.user_id) == (
        "kubermatic@example.com",
        "admin",
        "08a8684b-db88-4b73-90a9-3cd1661f5466",
    )
    assert (provider.signing_key_ttl, provider.id_token_ttl) == (6 * 3600, 24 * 3600)
    assert provider.display_name == ""  # dex.frontend.issuer unset: the pages show no name

    assert [p.name for p in settings.proxies] == ["alertmanager", "grafana", "prometheus"]
    prometheus = settings.proxy("prometheus")
    assert prometheus.host == "prometheus.kkp.example.com"
    assert prometheus.upstream == "http://prometheus.monitoring.svc.cluster.local:9090"
    assert prometheus.issuer_url == "https://kkp.example.com/dex"
    assert (prometheus.client_id, prometheus.client_secret) == (
        "prometheus",
        "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX",
    )
    assert prometheus.scopes == ("groups", "openid", "email")
    assert prometheus.email_domains == ("*",)
    assert (prometheus.github_org, prometheus.github_team) == ("mygithuborg", "mygroup")
    assert prometheus.skip_auth_regex == ("/-/healthy",)
    assert prometheus.session_cookie == "prometheus_oauth2_proxy"
    assert prometheus.cookie_expire == 168 * 3600
    assert len(prometheus.encryption_key) in (16, 24, 32)
    grafana = settings.proxy("grafana")
    assert grafana.github_org is None
    assert grafana.pass_user_headers is True
    assert settings.listen == "127.0.0.1:4180"
    assert settings.storage == "sqlite:///./data/idgate.db"
    assert settings.sessions == "cookie"


def test_proxy_only_file_builds_no_provider(analyse: Analyse, example: dict[str, Any]) -> None:
    config, _ = analyse({"iap": example["iap"]})
    settings = build_settings(config)
    assert settings.provider is None
    assert len(settings.proxies) == 3


def test_options_reach_the_proxy_settings(analyse: Analyse, example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["config"] = {
        "email_domains": ["example.com"],
        "allowed_groups": ["mygithuborg:admins"],
        "cookie_expire": "12h",
        "cookie_secure": False,
        "cookie_name": "_g",
        "redirect_url": "https://grafana.kkp.example.com/oauth/callback",
        "whitelist_domains": [".kkp.example.com"],
        "insecure_oidc_allow_unverified_email": True,
        "pass_user_headers": False,
    }
    config, _ = analyse(example)
    grafana = build_settings(config).proxy("grafana")
    assert grafana.scopes == ("openid", "email", "profile")
    assert grafana.allowed_groups == ("mygithuborg:admins",)
    assert grafana.cookie_expire == 12 * 3600
    assert grafana.cookie_secure is False
    assert grafana.session_cookie == "_g"
    assert grafana.redirect_url == "https://grafana.kkp.example.com/oauth/callback"
    assert grafana.whitelist_domains == (".kkp.example.com",)
    assert grafana.insecure_allow_unverified_email is True
    assert grafana.pass_user_headers is False


def test_expiry_and_frontend_reach_the_provider(analyse: Analyse, example: dict[str, Any]) -> None:
    example["dex"]["expiry"] = {"signingKeys": "1h30m", "idTokens": "90s", "authRequests": "10m"}
    example["dex"]["frontend"] = {"issuer": "Kubermatic"}
    config, _ = analyse(example)
    provider = build_settings(config).provider
    assert (provider.signing_key_ttl, provider.id_token_ttl, provider.auth_request_ttl) == (5400, 90, 600)
    assert provider.display_name == "Kubermatic"


def test_base64_bcrypt_hash_is_decoded(analyse: Analyse, example: dict[str, Any]) -> None:
    raw = example["dex"]["staticPasswords"][0]["hash"]
    example["dex"]["staticPasswords"][0]["hash"] = base64.b64encode(raw.encode()).decode()
    config, _ = analyse(example)
    assert build_settings(config).provider.static_passwords[0].hash == raw.encode()


class TestDefaultConfiguration:
    """kkp-values.md §2.1 / §7.2: merged only into a non-empty config; the deployment's keys win."""

    def test_chart_default_is_approval_prompt_none(self, analyse: Analyse, example: dict[str, Any]) -> None:
        config, _ = analyse(example)
        dep = config.iap.deployments["grafana"]
        assert effective_options(config.iap, dep).approval_prompt == "none"

    def test_merged_under_a_non_empty_config(self, analyse: Analyse, example: dict[str, Any]) -> None:
        example["iap"]["default_configuration"] = {"email_domains": ["example.com"], "scope": "openid"}
        config, _ = analyse(example)
        options = effective_options(config.iap, config.iap.deployments["grafana"])
        assert options.scope == "groups openid email"  # the deployment's key wins
        assert options.email_domains == ["*"]
        config_without = {**example["iap"]["deployments"]["grafana"]["config"]}
        del config_without["email_domains"]
        example["iap"]["deployments"]["grafana"]["config"] = config_without
        config, _ = analyse(example)
        options = effective_options(config.iap, config.iap.deployments["grafana"])
        assert options.email_domains == ["example.com"]  # filled in from the default
        assert build_settings(config).proxy("grafana").email_domains == ("example.com",)

    @pytest.mark.parametrize("empty", [{}, None])
    def test_not_merged_into_an_empty_config(
        self, analyse: Analyse, example: dict[str, Any], empty: dict[str, Any] | None
    ) -> None:
        example["iap"]["default_configuration"] = {"email_domains": ["example.com"]}
        if empty is None:
            del example["iap"]["deployments"]["grafana"]["config"]
        else:
            example["iap"]["deployments"]["grafana"]["config"] = empty
        config, _ = analyse(example)
        options = effective_options(config.iap, config.iap.deployments["grafana"])
        assert options.email_domains == []
        assert options.approval_prompt is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6h", 21600),
        ("24h", 86400),
        ("1h30m", 5400),
        ("90s", 90),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("0", 0),
        ("2h45m30.5s", 9930.5),
        ("1µs", 1e-6),
        ("+5m", 300),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "6", "6 h", "h", "1d", "1h-30m", "1.h.", "-1s"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


class TestCookieSecret:
    """OAuth2-Proxy's reading of a cookie secret: base64 first when it decodes to an AES length."""

    def test_raw_16_characters(self) -> None:
        assert cookie_secret_bytes("0123456789abcdef") == b"0123456789abcdef"

    def test_base64_of_32_bytes(self) -> None:
        key = bytes(range(32))
        assert cookie_secret_bytes(base64.urlsafe_b64encode(key).decode()) == key
        assert cookie_secret_bytes(base64.b64encode(key).decode().rstrip("=")) == key

    def test_32_hex_characters_decode_as_base64_like_oauth2_proxy(self) -> None:
        secret = "6f1b3c9d2e8a4f7b0c5d1e9a3b7c2d8e"
        assert cookie_secret_bytes(secret) == base64.b64decode(secret)

    def test_32_characters_that_are_not_base64_are_raw(self) -> None:
        assert cookie_secret_bytes("!" * 32) == b"!" * 32

    @pytest.mark.parametrize("secret", ["short", "x" * 20, ""])
    def test_invalid(self, secret: str) -> None:
        assert cookie_secret_bytes(secret) is None

"""The provider's config keys added for issue 3: idgate.storage_pool_size, idgate.signing_algorithm,
idgate.login_session_lifetime, dex.oauth2, dex.expiry.refreshTokens / deviceRequests, and the client keys
requirePKCE, postLogoutRedirectURIs, allowedConnectors, trustedPeers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from idgate.config import build_settings, check, load_config
from idgate.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


def values(tmp_path: Path, change: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    change(data)
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = build_settings(load_config(values(tmp_path, lambda d: None)))
    assert settings.storage_pool_size == 10
    provider = settings.provider
    assert provider is not None
    assert provider.signing_algorithm == "RS256" and provider.response_types == ("code",)
    assert provider.password_connector is None and provider.refresh_reuse_interval == 0.0
    assert provider.refresh_rotation
    assert provider.refresh_idle_ttl is None and provider.refresh_absolute_ttl is None
    assert all(c.require_pkce for c in provider.clients)
    assert provider.skip_approval_screen  # unset: no approval screen, as idgate always did (Dex: false)


def test_every_key_reaches_the_settings(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d.setdefault("idgate", {}).update(
            storage_pool_size=25, signing_algorithm="ES256", login_session_lifetime="8h"
        )
        d["dex"]["oauth2"] = {
            "responseTypes": ["code", "id_token"],
            "passwordConnector": "local",
            "alwaysShowLoginScreen": True,
            "skipApprovalScreen": False,
        }
        d["dex"]["expiry"] = {
            "deviceRequests": "10m",
            "refreshTokens": {
                "validIfNotUsedFor": "24h",
                "absoluteLifetime": "720h",
                "reuseInterval": "3s",
                "disableRotation": True,
            },
        }
        d["dex"]["clients"][0].update(
            RequirePKCE=False,  # client keys match ignoring case, as Dex's do
            postLogoutRedirectURIs=["https://x/bye"],
            allowedConnectors=["local"],
            trustedPeers=["kubernetes"],
        )

    settings = build_settings(load_config(values(tmp_path, change)))
    provider = settings.provider
    assert provider is not None and settings.storage_pool_size == 25
    assert (provider.signing_algorithm, provider.login_session_ttl) == ("ES256", 8 * 3600.0)
    assert provider.response_types == ("code", "id_token") and provider.password_connector == "local"
    assert provider.always_show_login_screen and provider.device_request_ttl == 600.0
    assert not provider.skip_approval_screen
    assert (provider.refresh_idle_ttl, provider.refresh_absolute_ttl, provider.refresh_reuse_interval) == (
        86400.0,
        720 * 3600.0,
        3.0,
    )
    assert not provider.refresh_rotation
    client = provider.clients[0]
    assert not client.require_pkce and client.post_logout_redirect_uris == ("https://x/bye",)
    assert client.allowed_connectors == ("local",) and client.trusted_peers == ("kubernetes",)


def test_bad_values_are_reported_with_their_paths(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d.setdefault("idgate", {}).update(signing_algorithm="HS256", storage_pool_size=0)
        d["dex"]["oauth2"] = {"responseTypes": ["code", "hybrid"]}

    try:
        load_config(values(tmp_path, change))
    except ConfigError as exc:
        paths = {p.path for p in exc.problems}
    else:
        raise AssertionError("expected a ConfigError")
    assert {"idgate.signing_algorithm", "idgate.storage_pool_size"} <= paths
    assert any(p.startswith("dex.oauth2.responseTypes") for p in paths)


def test_password_connector_must_name_a_connector(tmp_path: Path) -> None:
    config = load_config(values(tmp_path, lambda d: d["dex"].update(oauth2={"passwordConnector": "nope"})))
    (problem,) = [p for p in check(config) if p.path == "dex.oauth2.passwordConnector"]
    assert "'nope' is not a connector id" in problem.message

from __future__ import annotations

from idgate.oidc.discovery import discovery_document

ISSUER = "https://kkp.example.com/dex"


def test_discovery_lists_dex_endpoints_under_the_issuer() -> None:
    doc = discovery_document(ISSUER)
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/auth"
    assert doc["token_endpoint"] == f"{ISSUER}/token"
    assert doc["jwks_uri"] == f"{ISSUER}/keys"
    assert doc["userinfo_endpoint"] == f"{ISSUER}/userinfo"


def test_discovery_lists_exactly_what_is_supported() -> None:
    doc = discovery_document(ISSUER)
    assert doc["response_types_supported"] == ["code"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["grant_types_supported"] == ["authorization_code"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert doc["response_modes_supported"] == ["query"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(doc["scopes_supported"])
    assert {"sub", "email", "email_verified", "groups", "name", "preferred_username"} <= set(
        doc["claims_supported"]
    )


def test_discovery_follows_the_config() -> None:
    doc = discovery_document(
        ISSUER,
        signing_algorithm="ES256",
        grant_types=["authorization_code", "refresh_token", "password"],
        response_types_supported=["code", "id_token", "id_token token"],
    )
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token", "password", "implicit"]
    assert doc["response_modes_supported"] == ["query", "fragment"]
    for name in ("device_authorization", "introspection", "revocation"):
        assert doc[f"{name}_endpoint"].startswith(ISSUER + "/")
    assert doc["end_session_endpoint"] == f"{ISSUER}/logout"

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
    ]
    assert {"openid", "email", "profile", "groups", "offline_access"} <= set(doc["scopes_supported"])
    assert {"sub", "email", "email_verified", "groups", "name", "preferred_username"} <= set(
        doc["claims_supported"]
    )

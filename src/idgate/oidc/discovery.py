"""The OpenID Provider metadata document (OIDC Discovery §3), listing exactly what is supported."""

from __future__ import annotations

from typing import Any

from idgate.oauth2 import client_auth, pkce
from idgate.oauth2 import scopes as s
from idgate.oauth2.grants import GRANT_TYPES
from idgate.oauth2.grants.authorization_code import RESPONSE_TYPES
from idgate.oidc.keys import ALGORITHM

CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "at_hash",
    "groups",
    "nonce",
    "federated_claims",
)


def endpoints(issuer: str) -> dict[str, str]:
    """Dex's endpoint paths under the issuer."""
    return {
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/keys",
        "userinfo_endpoint": f"{issuer}/userinfo",
    }


def discovery_document(issuer: str) -> dict[str, Any]:
    """``/.well-known/openid-configuration`` for ``issuer`` (never derived from request headers)."""
    return {
        "issuer": issuer,
        **endpoints(issuer),
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "code_challenge_methods_supported": list(pkce.METHODS),
        "scopes_supported": list(s.SUPPORTED),
        "token_endpoint_auth_methods_supported": list(client_auth.METHODS),
        "claims_supported": list(CLAIMS_SUPPORTED),
        "grant_types_supported": list(GRANT_TYPES),
        "authorization_response_iss_parameter_supported": True,
    }

"""The OpenID Provider metadata document (OIDC Discovery §3, RFC 8414), listing exactly what is
supported: the endpoints under the issuer with Dex's paths, the grants and response types the config
turns on, the signing algorithm in use, RFC 9207's ``iss`` in authorization responses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from idgate.oauth2 import client_auth, pkce, response_types
from idgate.oauth2 import scopes as s
from idgate.oidc import prompt
from idgate.oidc.keys import ALGORITHM

CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "iat",
    "exp",
    "auth_time",
    "azp",
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
    """Dex's endpoint paths under the issuer (and idgate's where Dex has none)."""
    return {
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/keys",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "device_authorization_endpoint": f"{issuer}/device/code",
        "introspection_endpoint": f"{issuer}/token/introspect",
        "revocation_endpoint": f"{issuer}/token/revoke",
        "end_session_endpoint": f"{issuer}/logout",
    }


def discovery_document(
    issuer: str,
    *,
    signing_algorithm: str = ALGORITHM,
    grant_types: Iterable[str] = ("authorization_code",),
    response_types_supported: Iterable[str] = (response_types.CODE,),
) -> dict[str, Any]:
    """``/.well-known/openid-configuration`` for ``issuer`` (never derived from request headers)."""
    offered = list(response_types_supported)
    modes = ["query"] + (["fragment"] if any(response_types.is_implicit(r) for r in offered) else [])
    grants = list(grant_types)
    if any(r != response_types.CODE for r in offered):
        grants.append("implicit")
    auth_methods = [*client_auth.METHODS, "none"]
    return {
        "issuer": issuer,
        **endpoints(issuer),
        "response_types_supported": offered,
        "response_modes_supported": modes,
        "grant_types_supported": grants,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [signing_algorithm],
        "code_challenge_methods_supported": list(pkce.METHODS),
        "scopes_supported": list(s.SUPPORTED),
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": list(client_auth.METHODS),
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "claims_supported": list(CLAIMS_SUPPORTED),
        "prompt_values_supported": list(prompt.VALUES),
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }

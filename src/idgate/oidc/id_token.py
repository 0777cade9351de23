"""ID tokens (OpenID Connect Core §2) with the claims Dex emits.

Which claims a token carries depends on the scopes, as in Dex: ``email`` releases ``email`` and
``email_verified``; ``profile`` releases ``name`` (the connector's username) and ``preferred_username``;
``groups`` releases ``groups``; ``federated:id`` releases ``federated_claims``
(``{connector_id, user_id}``). ``sub`` is Dex's encoding (:mod:`.subject`).

Every ID token also carries ``azp`` (the client it was issued to), ``auth_time`` (when the person
authenticated; OIDC Core §2) and, with an access token, ``at_hash`` (§3.1.3.6; SHA-256 for both RS256
and ES256). Cross-client trust (Dex's ``audience:server:client_id:PEER`` scope): ``aud`` lists the
peers and the requesting client, ``azp`` names the requesting client.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from typing import Any

from joserfc import jwt
from joserfc.jws import JWSRegistry

from idgate.oauth2 import scopes as s
from idgate.oauth2.grants.base import Grant
from idgate.oidc.keys import ALGORITHMS, LoadedKeys
from idgate.oidc.subject import encode_subject
from idgate.storage.base import Claims


def at_hash(access_token: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the token (for RS256)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def identity_claims(claims: Claims, connector_id: str, scopes: tuple[str, ...]) -> dict[str, Any]:
    """``sub`` plus what the scopes release; shared by the ID token and ``/userinfo``."""
    out: dict[str, Any] = {"sub": encode_subject(claims.user_id, connector_id)}
    if s.EMAIL in scopes:
        out["email"] = claims.email
        out["email_verified"] = claims.email_verified
    if s.GROUPS in scopes:
        out["groups"] = list(claims.groups)
    if s.PROFILE in scopes:
        out["name"] = claims.username
        if claims.preferred_username:
            out["preferred_username"] = claims.preferred_username
    if s.FEDERATED_ID in scopes:
        out["federated_claims"] = {"connector_id": connector_id, "user_id": claims.user_id}
    return out


def audience(client_id: str, scopes: tuple[str, ...]) -> str | list[str]:
    """``aud``: the client, or the requested trusted peers followed by the client."""
    peers = [p for p in s.audiences(scopes) if p != client_id]
    return [*peers, client_id] if peers else client_id


def id_token_claims(
    *, issuer: str, grant: Grant, now: float, ttl: float, access_token: str | None = None
) -> dict[str, Any]:
    """The claims of an ID token for ``grant``, issued at ``now`` and valid for ``ttl`` seconds."""
    issued = int(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience(grant.client_id, grant.scopes),
        "azp": grant.client_id,
        "exp": issued + int(ttl),
        "iat": issued,
    }
    if grant.auth_time is not None:
        claims["auth_time"] = int(grant.auth_time)
    if grant.nonce:
        claims["nonce"] = grant.nonce
    if access_token:
        claims["at_hash"] = at_hash(access_token)
    claims.update(identity_claims(grant.claims, grant.connector_id, grant.scopes))
    return claims


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@lru_cache(maxsize=16)
def _header_segment(alg: str, kid: str | None) -> bytes:
    header = {"typ": "JWT", "alg": alg, "kid": kid}
    return _b64(json.dumps(header, ensure_ascii=True, separators=(",", ":")).encode("ascii"))


def sign(claims: dict[str, Any], keys: LoadedKeys) -> str:
    """A compact JWS of ``claims`` with the current signing key (``kid`` in the header).

    The same bytes as ``joserfc.jwt.encode(header, claims, key)`` (header ``typ``, ``alg``, ``kid``;
    compact JSON), built directly with joserfc's algorithm: the header segment is made once per key,
    and joserfc's per-call header and registry checks stay out of the token endpoint."""
    alg = keys.algorithm
    if alg not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signing_input = _header_segment(alg, keys.signer.kid) + b"." + _b64(payload)
    signature = JWSRegistry.algorithms[alg].sign(signing_input, keys.signer)
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def verify(token: str, keys: LoadedKeys) -> dict[str, Any]:
    """The claims of an ID token this provider signed (signature only; expiry is not checked, as
    ``id_token_hint`` at logout may be expired). :class:`ValueError` when it is not one of ours."""
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(token, keys.verifier, algorithms=list(ALGORITHMS))
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("not an ID token of this provider") from exc
    return dict(decoded.claims)

"""``X-Idgate-Assertion``: a short-lived ES256 JWT that tells an upstream who the proxy let in.

A service reachable inside the cluster cannot tell a proxied request from a direct one by headers alone
(anyone who reaches it can send ``X-Forwarded-Email``). The assertion is signed, so it can check::

    header  {"alg": "ES256", "typ": "JWT", "kid": <RFC 7638 thumbprint>}
    claims  {"iss": <deployment URL>, "aud": <upstream URL>, "sub", "email", "groups",
             "preferred_username"?, "iat": now, "exp": now + 60}

The signing key is derived from the deployment's ``encryption_key`` (HKDF, purpose ``assertion``), so
every worker and replica signs with the same key and publishes the same JWKS at ``/oauth/jwks.json``;
``previous_encryption_keys`` stay published, so a rotation does not break verifiers that cache keys.
An assertion is reused for the same session and upstream until half its lifetime has passed (see
:meth:`AssertionSigner.renew_at`): an ES256 signature costs ~50 µs, too much per request. The signer keeps
what it signed in a small bounded cache keyed by the claims that come from the session (user, email,
groups, preferred username), so a session opened again from its cookie -- with the memo of verified
cookies off, or after the memo dropped it -- gets the same assertion too: :meth:`AssertionSigner.assertion`.
:func:`assertion_claims` is pure; time is an input.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from idgate.sessions.base import Session
from idgate.sessions.sealing import derive_key

ASSERTION_HEADER = "X-Idgate-Assertion"
LIFETIME = 60.0
_P256_ORDER = int("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def derive_signing_key(secret: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 key from a deployment secret (the same secret gives the same key in every process)."""
    scalar = int.from_bytes(derive_key(secret, "assertion"), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The public JWK of ``key`` with ``kid`` = its RFC 7638 thumbprint."""
    numbers = key.public_key().public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    thumbprint = _b64(
        hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    )
    return {**jwk, "use": "sig", "alg": "ES256", "kid": thumbprint}


def assertion_claims(session: Session, *, issuer: str, audience: str, now: float) -> dict[str, Any]:
    """The claims of an assertion for ``session`` (pure)."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": session.user,
        "email": session.email,
        "groups": list(session.groups),
        "iat": int(now),
        "exp": int(now + LIFETIME),
    }
    if session.preferred_username:
        claims["preferred_username"] = session.preferred_username
    return claims


#: How many recent assertions a signer keeps for reuse (one per person signed in recently).
CACHE_SIZE = 4096


class AssertionSigner:
    """Signs one deployment's assertions; publishes its keys (newest first)."""

    def __init__(
        self, secrets: Sequence[bytes], *, issuer: str, audience: str, cache_size: int = CACHE_SIZE
    ) -> None:
        self._cache: dict[tuple[str, str, tuple[str, ...], str], tuple[float, bytes]] = {}
        self._cache_size = cache_size
        self._keys = [derive_signing_key(s) for s in secrets]
        self._jwks = [public_jwk(k) for k in self._keys]
        self.issuer = issuer
        self.audience = audience
        self._header = _b64(
            json.dumps(
                {"alg": "ES256", "typ": "JWT", "kid": self._jwks[0]["kid"]}, separators=(",", ":")
            ).encode()
        )

    def jwks(self) -> dict[str, Any]:
        """The JWK Set served at ``/oauth/jwks.json``."""
        return {"keys": list(self._jwks)}

    def sign(self, session: Session, now: float) -> str:
        """A fresh assertion for ``session`` (compact JWS, ES256, raw ``r || s`` signature)."""
        claims = assertion_claims(session, issuer=self.issuer, audience=self.audience, now=now)
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{self._header}.{payload}".encode("ascii")
        r, s = decode_dss_signature(self._keys[0].sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return f"{self._header}.{payload}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    @staticmethod
    def renew_at(now: float) -> float:
        """When an assertion signed at ``now`` should be replaced (half its lifetime)."""
        return int(now) + LIFETIME / 2

    def assertion(self, session: Session, now: float) -> tuple[bytes, float]:
        """An assertion for ``session`` as header bytes, and when to ask again (:meth:`renew_at`).

        Reused while ``now`` is before the renewal time of the one signed for the same claims; a cache
        hit is a dict lookup, a miss one ES256 signature. At most ``cache_size`` are kept: the expired
        ones go first, then the oldest.
        """
        key = (session.user, session.email, session.groups, session.preferred_username)
        cache = self._cache
        hit = cache.get(key)
        if hit is not None and now < hit[0]:
            return hit[1], hit[0]
        token = self.sign(session, now).encode("ascii")
        renew = self.renew_at(now)
        if self._cache_size <= 0:
            return token, renew
        if hit is None and len(cache) >= self._cache_size:
            for k in [k for k, v in cache.items() if now >= v[0]]:
                del cache[k]
            while len(cache) >= self._cache_size:
                del cache[next(iter(cache))]
        cache[key] = (renew, token)
        return token, renew

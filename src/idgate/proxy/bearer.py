"""Bearer JWTs as sessions: ``skip_jwt_bearer_tokens`` and ``extra_jwt_issuers`` (OAuth2-Proxy's meaning).

An API client (``curl``, a Grafana data source, a CI job) sends ``Authorization: Bearer <JWT>``. The
token is a session for that one request when it verifies against one of the deployment's issuers:

- ``iap.oidc_issuer_url`` with the audience ``client_id``;
- each ``extra_jwt_issuers`` entry ``issuer=audience``.

The steps, in order (each failure is a refusal; none falls back to anything)::

    token shaped like a compact JWS?        no  -> not a bearer JWT: the request is treated as without one
    unverified ``iss`` names an issuer?     no  -> refused (only used to pick the key set)
    issuer's keys cached?                   no  -> PENDING: the edge fetches them (discovery + JWKS)
    signature: RS256/ES256 only, ``kid``    unknown kid -> PENDING once a minute (refetch), else refused
    claims: iss, aud, exp/iat/nbf (leeway)  (:func:`~idgate.oidc.client.validate_claims`, no nonce/azp;
                                            times are NumericDates, exp at most a year ahead)
    session rules: sub, email (``oidc_email_claim``), email_verified unless
    ``insecure_oidc_allow_unverified_email``, groups from ``oidc_groups_claim``
                                            -> a :class:`~idgate.sessions.base.Session` until ``exp``,
                                               at most ``cookie_expire`` from now

Each issuer's keys live in its :class:`~idgate.oidc.client.ProviderClient` (one per issuer and
process, shared with the sign-in flow), so a key set is fetched once and refetched at most once a minute
when a token names an unknown ``kid``. Verified tokens are memoised by the edge (:mod:`idgate.edge.gate`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from idgate.oidc.client import (
    LEEWAY,
    IdTokenInvalid,
    IssuerCache,
    SigningKey,
    UnknownSigningKey,
    validate_claims,
    verify_signature,
)
from idgate.oidc.numeric_date import TokenTimes
from idgate.proxy.signin import session_from_claims
from idgate.sessions.base import PENDING, Pending, Session
from idgate.settings import ProxySettings

log = logging.getLogger("idgate.proxy")

#: Longest token considered (the edge's header limit bounds it anyway).
MAX_TOKEN = 16 * 1024
#: A compact JWS; an empty signature still counts (``alg: none`` is then refused, not ignored).
_JWS = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def bearer_token(authorization: bytes) -> str | None:
    """The JWT in an ``Authorization: Bearer <JWT>`` value (scheme case-insensitive, RFC 6750 §2.1).

    ``None`` for any other value (another scheme, an opaque token): such a header is the upstream's
    business, as in OAuth2-Proxy, and the request is judged by its cookie.
    """
    scheme, _, token = authorization.strip().partition(b" ")
    token = token.strip()
    if scheme.lower() != b"bearer" or len(token) > MAX_TOKEN or _JWS.fullmatch(token) is None:
        return None
    return token.decode("ascii")


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, read without verification: only to choose whose keys check it."""
    try:
        raw = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    iss = claims.get("iss") if isinstance(claims, dict) else None
    return iss if isinstance(iss, str) else None


@dataclass(frozen=True, slots=True)
class BearerIssuer:
    """One issuer whose tokens a deployment accepts, with the audiences they may name (any one)."""

    client: IssuerCache
    audiences: tuple[str, ...]


class BearerVerifier:
    """Turns bearer JWTs into sessions for one deployment (see the module docstring)."""

    def __init__(self, p: ProxySettings, issuers: Sequence[BearerIssuer]) -> None:
        self._p = p
        self._issuers = {i.client.issuer: i for i in issuers}
        self._keep_id_token = p.pass_authorization_header or p.set_authorization_header

    def check(self, token: str, now: float) -> Session | Pending | None:
        """Synchronous: the session, ``None`` (refused), or :data:`PENDING` when keys must be fetched."""
        issuer = self._issuer(token)
        if issuer is None:
            return None
        keys = issuer.client.cached_keys()
        if keys is None:
            return PENDING
        try:
            return self._session(token, keys, issuer, now)
        except UnknownSigningKey:
            return PENDING if issuer.client.may_refetch_keys(now) else None
        except IdTokenInvalid as exc:
            log.info("bearer token refused: %s", exc.reason)
            return None

    async def verify(self, token: str, now: float) -> Session | None:
        """The awaited half of :meth:`check`: fetch the issuer's keys (again for an unknown ``kid``).

        Raises :class:`~idgate.oidc.client.ProviderUnavailable` when the keys cannot be fetched.
        """
        issuer = self._issuer(token)
        if issuer is None:
            return None
        try:
            try:
                return self._session(token, await issuer.client.keys(), issuer, now)
            except UnknownSigningKey:
                return self._session(token, await issuer.client.keys(refresh=True), issuer, now)
        except IdTokenInvalid as exc:
            log.info("bearer token refused: %s", exc.reason)
            return None

    def _issuer(self, token: str) -> BearerIssuer | None:
        iss = unverified_issuer(token)
        return self._issuers.get(iss) if iss is not None else None

    def _session(self, token: str, keys: Sequence[SigningKey], issuer: BearerIssuer, now: float) -> Session:
        claims: dict[str, Any] = verify_signature(token, keys)
        times = self._validate(claims, issuer, now)
        p = self._p
        # Until ``exp`` (with the leeway the check allowed), never longer than a cookie session would last.
        expires_at = min(times.expires_at + LEEWAY, now + p.cookie_expire)
        session = session_from_claims(
            claims,
            now=now,
            lifetime=expires_at - now,
            allow_unverified_email=p.insecure_allow_unverified_email,
            email_claim=p.oidc_email_claim,
            groups_claim=p.oidc_groups_claim,
        )
        # As OAuth2-Proxy: the bearer token is both the session's ID token and its access token.
        return dataclasses.replace(
            session,
            created_at=times.issued_at,
            id_token=token if self._keep_id_token else None,
            access_token=token if p.pass_access_token else None,
        )

    @staticmethod
    def _validate(claims: dict[str, Any], issuer: BearerIssuer, now: float) -> TokenTimes:
        """The ID token claim checks without nonce and azp, for the first audience that fits."""
        failure: IdTokenInvalid | None = None
        for audience in issuer.audiences:
            try:
                return validate_claims(
                    claims,
                    issuer=issuer.client.issuer,
                    client_id=audience,
                    nonce=None,
                    now=now,
                    check_azp=False,
                )
            except IdTokenInvalid as exc:
                failure = exc
        raise failure or IdTokenInvalid("no audience configured")


def build_verifier(p: ProxySettings, clients: Mapping[str, IssuerCache]) -> BearerVerifier | None:
    """The verifier of deployment ``p`` (``None`` without ``skip_jwt_bearer_tokens``).

    ``clients`` maps issuers to their shared :class:`~idgate.oidc.client.ProviderClient`; it must hold
    ``p.issuer_url`` and every extra issuer (see :func:`idgate.proxy.services.build_services`).
    """
    if not p.skip_jwt_bearer_tokens:
        return None
    audiences: dict[str, list[str]] = {p.issuer_url: [p.client_id]}
    for iss, aud in p.extra_jwt_issuers:
        audiences.setdefault(iss, []).append(aud)
    return BearerVerifier(p, [BearerIssuer(clients[i], tuple(a)) for i, a in audiences.items()])

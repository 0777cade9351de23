"""The relying-party side of OpenID Connect (Core 1.0, Discovery 1.0): what idgate does with an issuer it
signs people in through, for the proxy (:mod:`idgate.proxy.signin`, :mod:`idgate.proxy.bearer`) and the
``oidc`` connector (:mod:`idgate.connectors.oidc`) alike.

Pure parts (no I/O, time and keys as inputs): :func:`parse_metadata`, :func:`parse_jwks`,
:func:`verify_id_token` (:func:`verify_signature`, then :func:`validate_claims`, as two explicit steps;
algorithms from :data:`ALLOWED_ALGORITHMS` only; the same two steps check the proxy's bearer JWTs),
:func:`merge_userinfo` and :func:`basic_auth`.

:class:`IssuerCache` keeps one issuer's discovery document (for :data:`METADATA_TTL`) and its JWKS
(refetched at most once per :data:`JWKS_REFETCH_INTERVAL` when a token names an unknown ``kid``), and
verifies ID tokens against them. How a document is fetched, and what a failed fetch is called, is its
owner's: the ``oidc`` connector fetches with the connector family's helpers (its TLS settings, its
errors, the ``providerDiscoveryOverrides``); :class:`ProviderClient`, the proxy's, over its own HTTP
client, and it also makes the token requests (``client_secret_basic``, RFC 6749 §2.3.1; the code with the
PKCE ``code_verifier``, and refresh tokens) and asks UserInfo, only when the ID token lacks the email or
groups claim (:meth:`ProviderClient.complete_claims`, OpenID Connect Core §5.4: many providers put scope
claims only there when an access token is issued). Every answer is read whole, up to a limit
(:func:`idgate.net.read_limited`); requests are made by :mod:`idgate.net`, the one owner of the HTTP client.

Errors::

    UpstreamError
    └── OIDCError                     the sign-in cannot complete; ``reason`` is safe to log
        ├── ProviderUnavailable       discovery, JWKS or token endpoint unreachable, answering badly or
        │                             more than 1 MiB (502)
        ├── TokenRequestRefused       the token endpoint refused the code (4xx), e.g. a replayed code
        └── IdTokenInvalid            the ID token fails verification
            └── UnknownSigningKey     no key in the JWKS has the token's ``kid``
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, RSAKey

from idgate.clock import Clock
from idgate.errors import UpstreamError
from idgate.net import BodyTooLarge, HTTPClient, TransportError, get_json, post_form
from idgate.oidc.numeric_date import BadNumericDate, TokenTimes, token_times

ALLOWED_ALGORITHMS = ("RS256", "ES256")
JWKS_REFETCH_INTERVAL = 60.0
METADATA_TTL = 3600.0
LEEWAY = 60.0

SigningKey = RSAKey | ECKey


class OIDCError(UpstreamError):
    """A sign-in step failed; ``reason`` names why and never holds codes, tokens or cookies."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProviderUnavailable(OIDCError):
    """The provider could not be reached or answered something unusable."""


class TokenRequestRefused(OIDCError):
    """The token endpoint refused the authorization code."""


class IdTokenInvalid(OIDCError):
    """The ID token is not acceptable."""


class UnknownSigningKey(IdTokenInvalid):
    """The ID token's ``kid`` is not in the key set (the provider may have rotated)."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What the relying party needs from ``/.well-known/openid-configuration``."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None


def discovery_url(issuer: str) -> str:
    """``<issuer>/.well-known/openid-configuration`` (Discovery 1.0 §4)."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def parse_metadata(doc: Any, issuer: str) -> ProviderMetadata:
    """Check a discovery document for ``issuer`` (its ``issuer`` must be identical, §4.3)."""
    if not isinstance(doc, dict):
        raise ProviderUnavailable("discovery document is not a JSON object")
    if doc.get("issuer") != issuer:
        raise ProviderUnavailable("discovery issuer differs from the configured issuer")

    def url(key: str, required: bool = True) -> str | None:
        value = doc.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise ProviderUnavailable(f"discovery document has no usable {key}")
        return value

    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=url("authorization_endpoint") or "",
        token_endpoint=url("token_endpoint") or "",
        jwks_uri=url("jwks_uri") or "",
        userinfo_endpoint=url("userinfo_endpoint", required=False),
        end_session_endpoint=url("end_session_endpoint", required=False),
    )


def parse_jwks(doc: Any) -> tuple[SigningKey, ...]:
    """The RSA and EC signature keys of a JWK Set; other or malformed keys are skipped."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ProviderUnavailable("JWKS is not a key set")
    keys: list[SigningKey] = []
    for entry in doc["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("kty") not in ("RSA", "EC") or "d" in entry:
            continue
        try:
            key = JWKRegistry.import_key(entry)
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, RSAKey | ECKey):
            keys.append(key)
    return tuple(keys)


def _header(token: str) -> dict[str, Any]:
    try:
        raw = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise IdTokenInvalid("malformed token") from exc
    if not isinstance(header, dict):
        raise IdTokenInvalid("malformed token header")
    return header


def _candidates(keys: Iterable[SigningKey], alg: str, kid: Any) -> list[SigningKey]:
    wanted = RSAKey if alg.startswith("RS") else ECKey
    fitting = [k for k in keys if isinstance(k, wanted) and k.get("alg", alg) == alg]
    if isinstance(kid, str):
        return [k for k in fitting if k.kid == kid]
    return fitting


def verify_signature(token: str, keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The claims of a compact JWS signed with one of ``keys`` by an allowed algorithm."""
    if token.count(".") != 2:
        raise IdTokenInvalid("not a compact JWS")
    header = _header(token)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise IdTokenInvalid(f"algorithm {str(alg)[:16]!r} not allowed")
    if "crit" in header:
        raise IdTokenInvalid("critical header parameters are not supported")
    candidates = _candidates(keys, alg, header.get("kid"))
    if not candidates:
        raise UnknownSigningKey("no key for the token's kid")
    for key in candidates:
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except (JoseError, ValueError):
            continue
        if isinstance(claims, dict):
            return claims
    raise IdTokenInvalid("bad signature")


def validate_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str | None,
    now: float,
    leeway: float = LEEWAY,
    check_azp: bool = True,
) -> TokenTimes:
    """ID token validation of OpenID Connect Core §3.1.3.7 (after the signature is checked); the
    token's checked times (:func:`~idgate.oidc.numeric_date.token_times`: ``exp``, ``iat``, ``nbf`` are
    NumericDates, ``exp`` at most a year ahead).

    ``nonce`` ``None``: nothing to compare: an ID token from a refresh (§12.2), or a bearer token.
    ``check_azp`` ``False``: a bearer JWT (RFC 9068 §4) whose ``azp`` is whichever client obtained it;
    ``client_id`` is then the audience the token must name.
    """
    if claims.get("iss") != issuer:
        raise IdTokenInvalid("iss is not the issuer")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or client_id not in audiences:
        raise IdTokenInvalid("aud does not hold the client id")
    azp = claims.get("azp")
    if check_azp and (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdTokenInvalid("azp is not the client id")
    try:
        times = token_times(claims, now=now, leeway=leeway)
    except BadNumericDate as exc:
        raise IdTokenInvalid(str(exc)) from exc
    got_nonce = claims.get("nonce")
    if nonce is not None and (not isinstance(got_nonce, str) or not _equal(got_nonce, nonce)):
        raise IdTokenInvalid("nonce mismatch")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise IdTokenInvalid("sub missing")
    return times


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def verify_id_token(
    token: str,
    *,
    keys: Iterable[SigningKey],
    issuer: str,
    client_id: str,
    nonce: str | None,
    now: float,
    leeway: float = LEEWAY,
) -> dict[str, Any]:
    """The claims of a valid ID token: signature first, then claims. Raises :class:`IdTokenInvalid`."""
    claims = verify_signature(token, keys)
    validate_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=now, leeway=leeway)
    return claims


#: Claims about the token itself, never taken from a UserInfo response.
_TOKEN_CLAIMS = frozenset({"iss", "aud", "azp", "exp", "iat", "nbf", "nonce", "sub", "at_hash", "c_hash"})


def merge_userinfo(
    id_claims: Mapping[str, Any], userinfo: Mapping[str, Any], *, email_claim: str = "email"
) -> dict[str, Any]:
    """The ID token's claims completed by a UserInfo response (OpenID Connect Core §5.3.2, §5.4).

    The UserInfo ``sub`` must equal the ID token's, or the response is refused (token substitution).
    A claim the ID token carries wins; a missing one is taken from UserInfo. When the email itself comes
    from UserInfo, so does ``email_verified``: the verification belongs to that address.
    """
    if not isinstance(userinfo.get("sub"), str) or userinfo.get("sub") != id_claims.get("sub"):
        raise IdTokenInvalid("userinfo sub differs from the ID token's")
    merged = dict(id_claims)
    email_from_userinfo = email_claim not in id_claims and email_claim in userinfo
    for key, value in userinfo.items():
        if key in _TOKEN_CLAIMS:
            continue
        if key not in merged or (email_from_userinfo and key == "email_verified"):
            merged[key] = value
    return merged


def basic_auth(client_id: str, client_secret: str) -> str:
    """``Authorization`` value for ``client_secret_basic``: both parts form-encoded first (§2.3.1)."""
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


#: Loads an issuer's discovery document; raises its owner's error when it cannot.
MetadataLoader = Callable[[], Awaitable[ProviderMetadata]]
#: Loads the signing keys at a ``jwks_uri``; raises its owner's error when it cannot.
KeysLoader = Callable[[str], Awaitable[tuple[SigningKey, ...]]]


class IssuerCache:
    """One issuer's discovery document and signing keys, as a relying party keeps them; ID tokens
    verified against those keys (see the module docstring)."""

    def __init__(
        self, issuer: str, clock: Clock, load_metadata: MetadataLoader, load_keys: KeysLoader
    ) -> None:
        self.issuer = issuer
        self._clock = clock
        self._load_metadata = load_metadata
        self._load_keys = load_keys
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: tuple[SigningKey, ...] = ()
        self._keys_at: float | None = None
        self._lock = asyncio.Lock()

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, fetched once and kept for :data:`METADATA_TTL`."""
        now = self._clock.now()
        if self._metadata is not None and now - self._metadata_at < METADATA_TTL:
            return self._metadata
        async with self._lock:
            if self._metadata is None or now - self._metadata_at >= METADATA_TTL:
                self._metadata, self._metadata_at = await self._load_metadata(), now
            return self._metadata

    def cached_metadata(self) -> ProviderMetadata | None:
        """The discovery document fetched so far (``None``: never fetched): for synchronous steps."""
        return self._metadata

    async def keys(self, *, refresh: bool = False) -> tuple[SigningKey, ...]:
        """The provider's signing keys; ``refresh`` refetches unless done in the last minute."""
        now = self._clock.now()
        fresh_enough = self._keys_at is not None and now - self._keys_at < JWKS_REFETCH_INTERVAL
        if self._keys_at is not None and (not refresh or fresh_enough):
            return self._keys
        meta = await self.metadata()
        async with self._lock:
            if self._keys_at is None or (refresh and now - self._keys_at >= JWKS_REFETCH_INTERVAL):
                self._keys = await self._load_keys(meta.jwks_uri)
                self._keys_at = now
            return self._keys

    def cached_keys(self) -> tuple[SigningKey, ...] | None:
        """The signing keys fetched so far (``None``: never fetched): for synchronous checks."""
        return self._keys if self._keys_at is not None else None

    def may_refetch_keys(self, now: float) -> bool:
        """Whether :meth:`keys` with ``refresh`` would fetch again now (rate limit not reached)."""
        return self._keys_at is None or now - self._keys_at >= JWKS_REFETCH_INTERVAL

    async def verify(self, token: str, *, client_id: str, nonce: str | None) -> dict[str, Any]:
        """Verify an ID token against the cached JWKS, refetching once for an unknown ``kid``."""
        keys: Sequence[SigningKey] = await self.keys()
        now = self._clock.now()
        try:
            return verify_id_token(
                token, keys=keys, issuer=self.issuer, client_id=client_id, nonce=nonce, now=now
            )
        except UnknownSigningKey:
            keys = await self.keys(refresh=True)
        return verify_id_token(
            token, keys=keys, issuer=self.issuer, client_id=client_id, nonce=nonce, now=now
        )


class ProviderClient(IssuerCache):
    """One issuer seen from the proxy: its discovery document and keys fetched over ``http``, its token
    endpoint and UserInfo."""

    def __init__(self, issuer: str, http: HTTPClient, clock: Clock) -> None:
        super().__init__(issuer, clock, self._discover, self._jwks)
        self._http = http

    async def _discover(self) -> ProviderMetadata:
        return parse_metadata(await self._get_json(discovery_url(self.issuer), "discovery"), self.issuer)

    async def _jwks(self, jwks_uri: str) -> tuple[SigningKey, ...]:
        return parse_jwks(await self._get_json(jwks_uri, "JWKS"))

    async def _get_json(self, url: str, what: str) -> Any:
        status, body = await _request(
            self._http, "GET", url, what=what, headers={"Accept": "application/json"}
        )
        if status != 200:
            raise ProviderUnavailable(f"{what} answered HTTP {status}")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise ProviderUnavailable(f"{what} is not JSON") from exc

    async def exchange_code(
        self, *, client_id: str, client_secret: str, code: str, redirect_uri: str, verifier: str
    ) -> dict[str, Any]:
        """The token response for an authorization code (RFC 6749 §4.1.3 with RFC 7636)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return await self._token_request(form, client_id, client_secret, "code", needs_id_token=True)

    async def refresh(self, *, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
        """The token response for a refresh token (RFC 6749 §6); :class:`TokenRequestRefused` on 4xx."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token_request(
            form, client_id, client_secret, "refresh token", needs_id_token=False
        )

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The UserInfo response (OpenID Connect Core §5.3) for ``access_token``."""
        meta = await self.metadata()
        if meta.userinfo_endpoint is None:
            raise ProviderUnavailable("the provider has no userinfo_endpoint")
        headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        status, body = await _request(
            self._http, "GET", meta.userinfo_endpoint, what="userinfo", headers=headers
        )
        if status in (401, 403):
            raise TokenRequestRefused(f"userinfo refused the access token: HTTP {status}")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if status != 200 or not isinstance(doc, dict):
            raise ProviderUnavailable(f"userinfo answered HTTP {status}")
        return doc

    async def _token_request(
        self, form: dict[str, str], client_id: str, client_secret: str, what: str, *, needs_id_token: bool
    ) -> dict[str, Any]:
        meta = await self.metadata()
        headers = {"Authorization": basic_auth(client_id, client_secret), "Accept": "application/json"}
        status, body = await _request(
            self._http, "POST", meta.token_endpoint, what="token endpoint", headers=headers, form=form
        )
        if status >= 500:
            raise ProviderUnavailable(f"token endpoint answered HTTP {status}")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if status != 200:
            error = doc.get("error") if isinstance(doc, dict) else None
            code_name = error if isinstance(error, str) and error.isascii() else "unknown"
            raise TokenRequestRefused(f"token endpoint refused the {what}: {code_name[:64]}")
        if not isinstance(doc, dict) or (needs_id_token and not isinstance(doc.get("id_token"), str)):
            raise ProviderUnavailable("token response holds no id_token")
        return doc

    async def complete_claims(
        self, claims: Mapping[str, Any], access_token: object, *, email_claim: str, groups_claim: str
    ) -> dict[str, Any]:
        """``claims`` completed from UserInfo when the email or groups claim is missing (Core §5.4).

        Without an access token or a ``userinfo_endpoint`` the claims stay as they are. When only the
        groups are missing, a failing UserInfo leaves them missing (no groups: group rules refuse).
        """
        if email_claim in claims and groups_claim in claims:
            return dict(claims)
        if not isinstance(access_token, str) or not access_token:
            return dict(claims)
        meta = await self.metadata()
        if meta.userinfo_endpoint is None:
            return dict(claims)
        try:
            info = await self.userinfo(access_token)
        except OIDCError:
            if email_claim not in claims:
                raise
            return dict(claims)
        return merge_userinfo(claims, info, email_claim=email_claim)


async def _request(
    http: HTTPClient,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str],
    form: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """The status and whole body of one request to the provider (the JSON GETs and the token POST),
    made by :mod:`idgate.net`.

    Unreachable, cut short, timed out or larger than :data:`~idgate.net.MAX_RESPONSE_BYTES`:
    :class:`ProviderUnavailable` naming ``what``.
    """
    try:
        if form is None:
            reply = await get_json(http, url, headers=headers)
        else:
            reply = await post_form(http, url, form, headers=headers)
    except BodyTooLarge as exc:
        raise ProviderUnavailable(f"{what}: {exc}") from exc
    except TransportError as exc:
        raise ProviderUnavailable(f"{what} unreachable: {exc.cause}") from exc
    return reply.status, reply.body

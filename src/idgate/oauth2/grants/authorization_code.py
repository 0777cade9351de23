"""The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636).

Two halves:

- at ``/auth``: :func:`validate` checks the request in RFC 6749's order. The client and its
  ``redirect_uri`` first (exact string match; loopback ports for native apps, :mod:`..redirect_uris`):
  a problem there is shown as a page, never redirected. Then
  everything else, as errors that carry the verified redirect. :func:`issue_code` makes the code once the
  person has logged in.
- at ``/token``: :class:`AuthorizationCodeGrant` redeems a code exactly once, for the client and
  ``redirect_uri`` it was issued to, before it expires (at most 60 s), with the matching
  ``code_verifier``. A second redemption is a replay (RFC 6749 §4.1.2, RFC 9700 §4.2.4): it is refused
  and what the first redemption issued is revoked. The code is checked when the request comes and marked
  redeemed in the transaction that stores the tokens issued for it (:attr:`.Grant.complete`): one
  transaction per exchange, and a code is never spent without its tokens. That write is made against the
  code as it was checked (``seen``): it succeeds only if no other redemption came between.

PKCE (RFC 7636, S256 only): required for every client unless the client is marked ``requirePKCE:
false`` (never for a public client); when a challenge was sent the verifier is mandatory, and a
verifier without a challenge is refused.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from idgate.errors import NotFound
from idgate.oauth2 import pkce, response_types
from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import (
    InvalidGrant,
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from idgate.oauth2.grants.base import Grant, GrantContext
from idgate.oauth2.redirect_uris import application_home, redirect_uri_registered
from idgate.oauth2.requests import AuthorizationRequest, TokenRequest
from idgate.oauth2.revocation import revoke_grant
from idgate.oidc import prompt as prompts
from idgate.storage.base import AuthCode, AuthRequest, Claims, Client, Record, Storage, secret_id

RESPONSE_TYPES = (response_types.CODE,)
CODE_BYTES = 32
GRANT_ID_BYTES = 18
MAX_CODE_TTL = 60.0


@dataclass(frozen=True, slots=True)
class ValidAuthorization:
    """An authorization request that passed every check; ready to become an ``AuthRequest``."""

    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    response_type: str = response_types.CODE
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    connector_id: str = ""


class CodeReplayed(InvalidGrant):
    """A code presented again: refused, and what its first redemption issued is revoked."""

    def __init__(self, grant_id: str) -> None:
        super().__init__("authorization code already used")
        self.grant_id = grant_id


#: How much of a refused ``redirect_uri`` is shown on the error page and in the log.
SHOWN_URI_MAX = 300


def shown(text: str, limit: int = SHOWN_URI_MAX) -> str:
    """``text`` quoted for a page or a log line: control and invisible characters escaped (no forged
    line or reordered text), cut at ``limit`` characters."""
    cut = text[:limit]
    return repr(cut) + ("..." if len(text) > limit else "")


class UnregisteredRedirectUri(InvalidRequest):
    """A ``redirect_uri`` that the client has not registered: shown as a page that names the URI that
    arrived (escaped), so that an operator sees which one to register, or what the application sent."""

    def __init__(self, redirect_uri: str, client: Client) -> None:
        super().__init__(f"redirect_uri is not registered for this client: {shown(redirect_uri)}")
        self.redirect_uri = redirect_uri
        self.client = client


def check_client_and_redirect(req: AuthorizationRequest, client: Client | None) -> Client:
    """The part of validation that decides whether errors may be redirected at all."""
    if not req.client_id:
        raise InvalidRequest("client_id is required")
    if client is None:
        raise InvalidRequest("unknown client_id")
    if not req.redirect_uri:
        raise InvalidRequest("redirect_uri is required")
    if not redirect_uri_registered(req.redirect_uri, client.redirect_uris, public=client.public):
        err = UnregisteredRedirectUri(req.redirect_uri, client)
        home = application_home(client.redirect_uris)
        raise err.linking_back(client.name or client.id, home) if home else err
    return client


def validate(
    req: AuthorizationRequest,
    client: Client | None,
    *,
    allowed_response_types: tuple[str, ...] = RESPONSE_TYPES,
) -> ValidAuthorization:
    """Validate ``/auth``; errors after the redirect check carry the redirect back to the client."""
    client = check_client_and_redirect(req, client)
    response_type = response_types.normalise(req.response_type)
    # The fragment only once the response type is known to be an implicit one we offer (§4.2.2.1).
    implicit = response_type in allowed_response_types and response_types.is_implicit(response_type)
    try:
        if req.problem:
            raise InvalidRequest(req.problem)
        if not response_type:
            raise InvalidRequest("response_type is required")
        if response_type not in allowed_response_types:
            raise UnsupportedResponseType("supported response_type: " + ", ".join(allowed_response_types))
        scope_names.check(req.scopes)
        prompt = prompts.parse_prompt(req.prompt)
        max_age = prompts.parse_max_age(req.max_age)
        if implicit:
            if response_types.ID_TOKEN in response_type.split() and not req.nonce:
                raise InvalidRequest("nonce is required for the implicit flow")
            if req.code_challenge:
                raise InvalidRequest("PKCE applies to response_type=code only")
        else:
            pkce.check_challenge(req.code_challenge, req.code_challenge_method)
            if client.pkce_required and not req.code_challenge:
                raise InvalidRequest("PKCE (code_challenge with S256) is required for this client")
        if client.allowed_connectors and req.connector_id not in (*client.allowed_connectors, ""):
            raise InvalidRequest("this client may not use that connector")
    except OAuthError as exc:
        raise exc.redirecting(req.redirect_uri, req.state, fragment=implicit) from None
    return ValidAuthorization(
        client=client,
        redirect_uri=req.redirect_uri,
        scopes=req.scopes,
        state=req.state,
        nonce=req.nonce,
        code_challenge=req.code_challenge,
        code_challenge_method=pkce.S256 if req.code_challenge else "",
        response_type=response_type,
        prompt=prompt,
        max_age=max_age,
        connector_id=req.connector_id,
    )


def issue_code(
    request: AuthRequest,
    claims: Claims,
    now: float,
    ttl: float,
    *,
    auth_time: float | None = None,
    session_id: str = "",
    connector_data: str = "",
) -> tuple[str, AuthCode]:
    """A fresh code for a completed login: the secret to send, and the record to store (hashed)."""
    code = secrets.token_urlsafe(CODE_BYTES)
    record = AuthCode(
        id=secret_id(code),
        client_id=request.client_id,
        redirect_uri=request.redirect_uri,
        scopes=request.scopes,
        nonce=request.nonce,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        connector_id=request.connector_id,
        claims=claims,
        issued_at=now,
        expires_at=now + min(ttl, MAX_CODE_TTL),
        auth_time=auth_time,
        session_id=session_id,
        connector_data=connector_data,
    )
    return code, record


def check_redemption(code: AuthCode, client: Client, request: TokenRequest, now: float) -> None:
    """Refuse ``code`` unless ``client`` may redeem it now with ``request`` (every binding holds)."""
    if code.redeemed_at is not None:
        raise CodeReplayed(code.grant_id)
    if now >= code.expires_at:
        raise InvalidGrant("authorization code expired")
    if code.client_id != client.id:
        raise InvalidGrant("authorization code was issued to another client")
    if code.redirect_uri != request.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    pkce.verify(request.code_verifier, code.code_challenge, code.code_challenge_method)


def redemption(
    client: Client, request: TokenRequest, now: float, grant_id: str = ""
) -> Callable[[AuthCode], AuthCode]:
    """The update that redeems a code, refusing it (and writing nothing) unless every binding holds."""

    def redeem(code: AuthCode) -> AuthCode:
        check_redemption(code, client, request, now)
        return dataclasses.replace(code, redeemed_at=now, grant_id=grant_id)

    return redeem


class AuthorizationCodeGrant:
    """``grant_type=authorization_code``."""

    grant_type: ClassVar[str] = "authorization_code"

    async def exchange(self, ctx: GrantContext, client: Client, request: TokenRequest) -> Grant:
        if not request.code:
            raise InvalidRequest("code is required")
        if client.public and not request.code_verifier:
            raise UnauthorizedClient("public clients must use PKCE")
        grant_id = secrets.token_urlsafe(GRANT_ID_BYTES)
        code_id = secret_id(request.code)
        redeem = redemption(client, request, ctx.now, grant_id)
        storage = ctx.storage

        async def checked() -> AuthCode:  # the code as it is now: refused here, before any token is made
            stored = await storage.get(AuthCode, code_id)
            check_redemption(stored, client, request, ctx.now)
            return stored

        code = await _refusing(storage, checked())

        async def complete(records: Sequence[Record]) -> None:  # redeemed with the tokens, or refused
            await _refusing(storage, storage.update(AuthCode, code_id, redeem, create=records, seen=code))

        return Grant(
            client_id=code.client_id,
            scopes=code.scopes,
            claims=code.claims,
            connector_id=code.connector_id,
            nonce=code.nonce,
            auth_time=code.auth_time,
            session_id=code.session_id,
            connector_data=code.connector_data,
            grant_id=grant_id,
            complete=complete,
        )


async def _refusing(storage: Storage, redemption: Awaitable[AuthCode]) -> AuthCode:
    """The code a redemption read or wrote; an unknown code is ``invalid_grant``, and a code redeemed
    before revokes what its first redemption issued (RFC 6749 §4.1.2)."""
    try:
        return await redemption
    except NotFound:
        raise InvalidGrant("authorization code is invalid") from None
    except CodeReplayed as replay:
        await revoke_grant(storage, replay.grant_id)
        raise

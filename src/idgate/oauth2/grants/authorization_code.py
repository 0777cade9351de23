"""The authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636).

Two halves:

- at ``/auth``: :func:`validate` checks the request in RFC 6749's order. The client and its
  ``redirect_uri`` first (exact string match): a problem there is shown as a page, never redirected. Then
  everything else, as errors that carry the verified redirect. :func:`issue_code` makes the code once the
  person has logged in.
- at ``/token``: :class:`AuthorizationCodeGrant` redeems a code exactly once, for the client and
  ``redirect_uri`` it was issued to, before it expires, with the matching ``code_verifier``.

PKCE: public clients must send an S256 challenge; confidential clients may omit it, but when a challenge
was sent the verifier is mandatory, and a verifier without a challenge is refused.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from idgate.errors import NotFound
from idgate.oauth2 import pkce
from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import (
    InvalidGrant,
    InvalidRequest,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from idgate.oauth2.grants.base import Grant
from idgate.oauth2.requests import AuthorizationRequest, TokenRequest
from idgate.storage.base import AuthCode, AuthRequest, Claims, Client, Storage, secret_id

RESPONSE_TYPES = ("code",)
CODE_BYTES = 32
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


def check_client_and_redirect(req: AuthorizationRequest, client: Client | None) -> Client:
    """The part of validation that decides whether errors may be redirected at all."""
    if not req.client_id:
        raise InvalidRequest("client_id is required")
    if client is None:
        raise InvalidRequest("unknown client_id")
    if not req.redirect_uri:
        raise InvalidRequest("redirect_uri is required")
    if req.redirect_uri not in client.redirect_uris:
        raise InvalidRequest("redirect_uri is not registered for this client")
    return client


def validate(req: AuthorizationRequest, client: Client | None) -> ValidAuthorization:
    """Validate ``/auth``; errors after the redirect check carry the redirect back to the client."""
    client = check_client_and_redirect(req, client)
    try:
        if req.problem:
            raise InvalidRequest(req.problem)
        if not req.response_type:
            raise InvalidRequest("response_type is required")
        if req.response_type not in RESPONSE_TYPES:
            raise UnsupportedResponseType("only response_type=code is supported")
        scope_names.check(req.scopes)
        pkce.check_challenge(req.code_challenge, req.code_challenge_method)
        if client.public and not req.code_challenge:
            raise InvalidRequest("PKCE (code_challenge with S256) is required for this client")
    except OAuthError as exc:
        raise exc.redirecting(req.redirect_uri, req.state) from None
    return ValidAuthorization(
        client=client,
        redirect_uri=req.redirect_uri,
        scopes=req.scopes,
        state=req.state,
        nonce=req.nonce,
        code_challenge=req.code_challenge,
        code_challenge_method=pkce.S256 if req.code_challenge else "",
    )


def issue_code(request: AuthRequest, claims: Claims, now: float, ttl: float) -> tuple[str, AuthCode]:
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
    )
    return code, record


def redemption(client: Client, request: TokenRequest, now: float) -> Callable[[AuthCode], AuthCode]:
    """The update that redeems a code, refusing it (and writing nothing) unless every binding holds."""

    def redeem(code: AuthCode) -> AuthCode:
        if code.redeemed_at is not None:
            raise InvalidGrant("authorization code already used")
        if now >= code.expires_at:
            raise InvalidGrant("authorization code expired")
        if code.client_id != client.id:
            raise InvalidGrant("authorization code was issued to another client")
        if code.redirect_uri != request.redirect_uri:
            raise InvalidGrant("redirect_uri does not match the authorization request")
        pkce.verify(request.code_verifier, code.code_challenge, code.code_challenge_method)
        return dataclasses.replace(code, redeemed_at=now)

    return redeem


class AuthorizationCodeGrant:
    """``grant_type=authorization_code``."""

    grant_type: ClassVar[str] = "authorization_code"

    async def exchange(self, storage: Storage, client: Client, request: TokenRequest, now: float) -> Grant:
        if not request.code:
            raise InvalidRequest("code is required")
        if client.public and not request.code_verifier:
            raise UnauthorizedClient("public clients must use PKCE")
        try:
            code = await storage.update(AuthCode, secret_id(request.code), redemption(client, request, now))
        except NotFound:
            raise InvalidGrant("authorization code is invalid") from None
        return Grant(
            client_id=code.client_id,
            scopes=code.scopes,
            claims=code.claims,
            connector_id=code.connector_id,
            nonce=code.nonce,
        )

"""The provider's core, without a web framework: what each route asks for, composed from
:mod:`idgate.oauth2`, :mod:`idgate.oidc`, :mod:`idgate.connectors` and storage.

Routes parse the HTTP request into the arguments below, call one method, and render what comes back
(a value, or an :class:`~idgate.oauth2.errors.OAuthError` that :mod:`.render` turns into a page, a
redirect or JSON).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from idgate.clock import Clock
from idgate.connectors.base import Identity, PasswordConnector
from idgate.errors import NotFound
from idgate.oauth2 import client_auth
from idgate.oauth2.errors import (
    InvalidRequest,
    InvalidToken,
    ServerError,
    UnsupportedGrantType,
)
from idgate.oauth2.grants import GRANT_TYPES
from idgate.oauth2.grants import authorization_code as code_grant
from idgate.oauth2.requests import AuthorizationRequest, Params, parse_client_credentials
from idgate.oauth2.requests import parse_token_request as parse_token_params
from idgate.oidc import id_token
from idgate.oidc.keys import KeyRing
from idgate.settings import ProviderSettings
from idgate.storage.base import AccessToken, AuthRequest, Claims, Client, Storage, secret_id

log = logging.getLogger("idgate.provider")

TOKEN_BYTES = 32


class LoginExpired(InvalidRequest):
    """The login form belongs to no pending request (expired, finished, or another browser's)."""

    def __init__(self) -> None:
        super().__init__(
            "This login request has expired or was already used. "
            "Go back to the application and sign in again."
        )


@dataclass(frozen=True, slots=True)
class ChooseConnector:
    """``/auth`` with several connectors: the person picks one (links keep the original query)."""

    connectors: tuple[PasswordConnector, ...]


@dataclass(frozen=True, slots=True)
class LoginStarted:
    """A pending login was stored; the browser goes to the connector's login page."""

    request_id: str
    connector_id: str


@dataclass(frozen=True, slots=True)
class LoginForm:
    """What the login page shows."""

    request_id: str
    connector: PasswordConnector
    client_name: str
    username: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class LoginDone:
    """The person is authenticated: send the browser back to the client with a code."""

    redirect_to: str


def add_query(uri: str, params: dict[str, str]) -> str:
    """``uri`` with ``params`` appended to any query it already has (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def _claims(identity: Identity) -> Claims:
    return Claims(
        user_id=identity.user_id,
        username=identity.username,
        email=identity.email,
        email_verified=identity.email_verified,
        preferred_username=identity.preferred_username,
        groups=identity.groups,
    )


class Provider:
    """One provider: its settings, storage, clock, signing keys and connectors."""

    def __init__(
        self,
        settings: ProviderSettings,
        storage: Storage,
        clock: Clock,
        connectors: dict[str, PasswordConnector],
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.connectors = connectors
        self.keys = KeyRing(storage, clock, settings.signing_key_ttl)

    async def _client(self, client_id: str) -> Client | None:
        if not client_id:
            return None
        try:
            return await self.storage.get(Client, client_id)
        except NotFound:
            return None

    # -- /auth ---------------------------------------------------------------------------------

    async def authorize(
        self, request: AuthorizationRequest, connector_id: str | None, browser: str
    ) -> LoginStarted | ChooseConnector:
        """Validate an authorization request and store it as a pending login bound to ``browser``."""
        valid = code_grant.validate(request, await self._client(request.client_id))
        if connector_id is None:
            if not self.connectors:
                raise ServerError("no login method is configured")
            if len(self.connectors) > 1:
                return ChooseConnector(tuple(self.connectors.values()))
            connector_id = next(iter(self.connectors))
        elif connector_id not in self.connectors:
            raise InvalidRequest("unknown connector")
        now = self.clock.now()
        pending = AuthRequest(
            id=secrets.token_urlsafe(16),
            client_id=valid.client.id,
            redirect_uri=valid.redirect_uri,
            scopes=valid.scopes,
            state=valid.state,
            nonce=valid.nonce,
            code_challenge=valid.code_challenge,
            code_challenge_method=valid.code_challenge_method,
            connector_id=connector_id,
            browser=secret_id(browser),
            expires_at=now + self.settings.auth_request_ttl,
        )
        await self.storage.create(pending)
        return LoginStarted(pending.id, connector_id)

    # -- login form ----------------------------------------------------------------------------

    async def _pending(self, request_id: str, connector_id: str, browser: str) -> AuthRequest:
        if not request_id or not browser:
            raise LoginExpired()
        try:
            pending = await self.storage.get(AuthRequest, request_id)
        except NotFound:
            raise LoginExpired() from None
        same_browser = client_auth.secrets_equal(secret_id(browser), pending.browser)
        if (
            not same_browser
            or pending.connector_id != connector_id
            or connector_id not in self.connectors
            or self.clock.now() >= pending.expires_at
        ):
            raise LoginExpired()
        return pending

    async def _form(self, pending: AuthRequest, **extra: str) -> LoginForm:
        client = await self._client(pending.client_id)
        return LoginForm(
            request_id=pending.id,
            connector=self.connectors[pending.connector_id],
            client_name=(client.name or client.id) if client else pending.client_id,
            **extra,
        )

    async def login_form(self, request_id: str, connector_id: str, browser: str) -> LoginForm:
        """The login page of a pending request."""
        return await self._form(await self._pending(request_id, connector_id, browser))

    async def login(
        self, request_id: str, connector_id: str, browser: str, username: str, password: str
    ) -> LoginForm | LoginDone:
        """Check the credentials; the form again on failure, else a code for the client."""
        pending = await self._pending(request_id, connector_id, browser)
        connector = self.connectors[pending.connector_id]
        identity = await connector.login(pending.scopes, username, password)
        if identity is None:
            return await self._form(pending, username=username, error="Invalid email or password.")
        try:  # deleting claims the request: a double submit gets one code, not two
            await self.storage.delete(AuthRequest, pending.id)
        except NotFound:
            raise LoginExpired() from None
        now = self.clock.now()
        code, record = code_grant.issue_code(pending, _claims(identity), now, self.settings.code_ttl)
        await self.storage.create(record)
        log.info(
            "login succeeded",
            extra={"client_id": pending.client_id, "connector_id": connector.id},
        )
        params = {"code": code}
        if pending.state:
            params["state"] = pending.state
        params["iss"] = self.settings.issuer
        return LoginDone(add_query(pending.redirect_uri, params))

    # -- /token --------------------------------------------------------------------------------

    async def token(self, authorization: str | None, params: Params) -> dict[str, Any]:
        """The token endpoint: authenticate the client, run the grant, issue tokens."""
        credentials = parse_client_credentials(authorization, params)
        token_request = parse_token_params(params)
        client = client_auth.authenticate(credentials, await self._client(credentials.client_id))
        grant_type = GRANT_TYPES.get(token_request.grant_type)
        if grant_type is None:
            raise UnsupportedGrantType("unsupported grant_type")
        now = self.clock.now()
        grant = await grant_type.exchange(self.storage, client, token_request, now)
        ttl = self.settings.id_token_ttl
        access = secrets.token_urlsafe(TOKEN_BYTES)
        await self.storage.create(
            AccessToken(
                id=secret_id(access),
                client_id=grant.client_id,
                scopes=grant.scopes,
                connector_id=grant.connector_id,
                claims=grant.claims,
                issued_at=now,
                expires_at=now + ttl,
            )
        )
        claims = id_token.id_token_claims(
            issuer=self.settings.issuer, grant=grant, now=now, ttl=ttl, access_token=access
        )
        signed = id_token.sign(claims, await self.keys.current())
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(ttl),
            "id_token": signed,
            "scope": " ".join(grant.scopes),
        }

    # -- /userinfo -----------------------------------------------------------------------------

    async def userinfo(self, bearer: str) -> dict[str, Any]:
        """The claims an access token releases (OIDC Core §5.3)."""
        if not bearer:
            raise InvalidToken("bearer token required")
        try:
            token = await self.storage.get(AccessToken, secret_id(bearer))
        except NotFound:
            raise InvalidToken("access token is invalid") from None
        if self.clock.now() >= token.expires_at:
            raise InvalidToken("access token expired")
        return id_token.identity_claims(token.claims, token.connector_id, token.scopes)

    async def jwks(self) -> dict[str, Any]:
        return (await self.keys.current()).jwks

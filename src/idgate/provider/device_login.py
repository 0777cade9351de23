"""Device logins (RFC 8628): the device asks for a code at ``/device/code`` (§3.1-3.2); the person types
the user code at ``/device`` (§3.3), logs in as for any client (:class:`~.login.Logins`, which holds a
:class:`DeviceLogins`), and the login approves the device's code instead of issuing one.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from idgate.clock import Clock
from idgate.connectors.base import Connector
from idgate.errors import NotFound
from idgate.oauth2.errors import InvalidRequest, OAuthError, ServerError
from idgate.oauth2.grants import GrantContext, device_code
from idgate.oauth2.redirect_uris import add_query
from idgate.oauth2.requests import Params, parse_device_authorization
from idgate.provider.connectors import allowed_connectors
from idgate.provider.outcomes import ChooseConnector, LoginStarted
from idgate.provider.tokens import Tokens
from idgate.settings import ProviderSettings
from idgate.storage.base import (
    AuthRequest,
    Claims,
    Client,
    DeviceRequest,
    DeviceToken,
    LoginSession,
    Storage,
    secret_id,
)


class DeviceLogins:
    """The device flow's steps at the provider."""

    def __init__(
        self,
        *,
        settings: ProviderSettings,
        storage: Storage,
        clock: Clock,
        connectors: Mapping[str, Connector],
        lookup: Callable[[str], Awaitable[Client | None]],
        tokens: Tokens,
        context: Callable[[], GrantContext],
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.connectors = connectors
        self.lookup = lookup
        self.tokens = tokens
        self.context = context

    async def device_authorization(self, authorization: str | None, params: Params) -> dict[str, Any]:
        """``/device/code`` (RFC 8628 §3.1-3.2): authenticate the client, store the device's request."""
        client = await self.tokens.authenticate(authorization, params)
        request = parse_device_authorization(params)
        started = await device_code.start(
            self.context(), client, request.scopes, self.settings.device_request_ttl
        )
        verification = f"{self.settings.issuer}/device"
        shown = device_code.format_user_code(started.user_code)  # the same form everywhere: XXXX-XXXX
        return {
            "device_code": started.device_code,
            "user_code": shown,
            "verification_uri": verification,
            "verification_uri_complete": add_query(verification, {"user_code": shown}),
            "expires_in": started.expires_in,
            "interval": started.interval,
        }

    async def start_device_login(self, typed_code: str, browser: str) -> LoginStarted | ChooseConnector:
        """The person typed a user code at ``/device``: a pending login that approves it."""
        user_code = device_code.normalise_user_code(typed_code)
        now = self.clock.now()
        try:
            request = await self.storage.get(DeviceRequest, user_code) if user_code else None
        except NotFound:
            request = None
        if request is None or now >= request.expires_at:
            raise InvalidRequest("That code is not valid or has expired. Check the code on your device.")
        client = await self.lookup(request.client_id)
        allowed = allowed_connectors(self.connectors, client)
        if not allowed:
            raise ServerError("no login method is configured for this client")
        pending = AuthRequest(
            id=secrets.token_urlsafe(16),
            client_id=request.client_id,
            redirect_uri="",
            scopes=request.scopes,
            state="",
            nonce="",
            code_challenge="",
            code_challenge_method="",
            connector_id=next(iter(allowed)) if len(allowed) == 1 else "",
            browser=secret_id(browser),
            expires_at=min(request.expires_at, now + self.settings.auth_request_ttl),
            device_user_code=user_code,
        )
        await self.storage.create(pending)
        if pending.connector_id:
            return LoginStarted(pending.id, pending.connector_id)
        return ChooseConnector(pending.id, tuple(allowed.values()))

    async def approve_device(
        self, pending: AuthRequest, claims: Claims, connector_data: str, session: LoginSession, now: float
    ) -> None:
        """The person finished the login ``pending`` of a user code: its device token is approved (once)."""
        try:
            request = await self.storage.get(DeviceRequest, pending.device_user_code)
            approve = device_code.approval(
                now,
                claims=claims,
                connector_id=pending.connector_id,
                connector_data=connector_data,
                auth_time=session.auth_time,
                session_id=session.id,
            )
            await self.storage.update(DeviceToken, request.device_id, approve)
        except (NotFound, OAuthError):
            raise InvalidRequest(
                "That code is not valid or has expired. Start again on your device."
            ) from None
        with contextlib.suppress(NotFound):  # a user code approves once
            await self.storage.delete(DeviceRequest, request.id)

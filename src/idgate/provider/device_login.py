"""The device flow's browser side (RFC 8628 §3.3): the person types a user code at ``/device``, logs in
as for any client, and the login approves the device's code instead of issuing one.

:class:`DeviceLogins` is a part of :class:`~idgate.provider.login.Logins` (its base class), kept apart so
that each file reads as one subject.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping

from idgate.clock import Clock
from idgate.connectors.base import Connector
from idgate.errors import NotFound
from idgate.oauth2.errors import InvalidRequest, OAuthError, ServerError
from idgate.oauth2.grants import device_code
from idgate.provider.outcomes import ChooseConnector, LoginStarted
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
    """Device logins, and which connectors a client may use (both halves of a login ask that).

    The attributes are set by :class:`~idgate.provider.login.Logins`.
    """

    settings: ProviderSettings
    storage: Storage
    clock: Clock
    connectors: Mapping[str, Connector]
    lookup: Callable[[str], Awaitable[Client | None]]

    def allowed(self, client: Client | None) -> dict[str, Connector]:
        """The connectors ``client`` may use (its ``allowedConnectors``, or all)."""
        if client is None or not client.allowed_connectors:
            return dict(self.connectors)
        return {k: c for k, c in self.connectors.items() if k in client.allowed_connectors}

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
        allowed = self.allowed(client)
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

    async def _approve_device(
        self, pending: AuthRequest, claims: Claims, connector_data: str, session: LoginSession, now: float
    ) -> None:
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

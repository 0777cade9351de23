"""The provider's core, assembled: one :class:`Provider` holds its parts, each called directly by the web
layer (:mod:`idgate.provider.web`) and, for ``/token``, by the edge's lane (:mod:`.token_lane`).

==================  ==================================================================================
part                what it owns
==================  ==================================================================================
``logins``          ``/auth``, the chooser, the password and code forms, ``{path}/callback``, the approval
                    screen, the end of every login (:mod:`.login`)
``devices``         ``/device/code`` and the ``/device`` page (:mod:`.device_login`)
``tokens``          issuing, ``/userinfo``, introspection, revocation (:mod:`.tokens`)
``token_endpoint``  ``/token`` and ``/device/token``, for both front doors (:mod:`.token_endpoint`)
``sessions``        the login session (SSO cookie) and its end (:mod:`.sso`)
``logouts``         RP-initiated logout (:mod:`.logout`)
``throttle``        password login throttling (:mod:`.throttle`)
``keys``            the signing keys (:class:`~idgate.oidc.keys.KeyRing`)
==================  ==================================================================================

The provider itself only wires them and owns what they share: the client lookup (:meth:`Provider.client`)
and the context every grant runs in (:meth:`Provider.grant_context`). A part answers with a value from
:mod:`.outcomes` or raises an :class:`~idgate.oauth2.errors.OAuthError`, which the web layer renders in
one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial

from idgate.clock import Clock
from idgate.connectors.base import Connector
from idgate.errors import NotFound
from idgate.oauth2.grants import GrantContext, RefreshPolicy, grant_types
from idgate.oidc.keys import KeyRing
from idgate.provider.connectors import refresh_identity
from idgate.provider.device_login import DeviceLogins
from idgate.provider.login import Logins
from idgate.provider.logout import Logouts
from idgate.provider.password_grant import PasswordGrantLogin
from idgate.provider.sso import Sessions
from idgate.provider.throttle import Throttle
from idgate.provider.token_endpoint import TokenEndpoint
from idgate.provider.tokens import Tokens
from idgate.settings import ProviderSettings
from idgate.storage.base import Client, Storage
from idgate.storage.static import StaticStorage, client_from_settings, password_from_settings

log = logging.getLogger("idgate.provider")


def with_static(storage: Storage, settings: ProviderSettings) -> StaticStorage:
    """``storage`` with the config's clients and static passwords laid over it (read-only)."""
    if isinstance(storage, StaticStorage):
        storage = storage.backend
    return StaticStorage(
        storage,
        clients=[client_from_settings(c) for c in settings.clients],
        passwords=[password_from_settings(p) for p in settings.static_passwords],
    )


class Provider:
    """One provider: its settings, storage, clock, signing keys and connectors, and the parts above."""

    def __init__(
        self,
        settings: ProviderSettings,
        storage: Storage,
        clock: Clock,
        connectors: Mapping[str, Connector],
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.connectors: dict[str, Connector] = dict(connectors)
        self.keys = KeyRing(
            storage,
            clock,
            settings.signing_key_ttl,
            algorithm=settings.signing_algorithm,
            token_ttl=settings.id_token_ttl,
        )
        self.refresh_policy = RefreshPolicy(
            idle_ttl=settings.refresh_idle_ttl,
            absolute_ttl=settings.refresh_absolute_ttl,
            reuse_interval=settings.refresh_reuse_interval,
            per_client=max(1, settings.refresh_tokens_per_client),
            rotate=settings.refresh_rotation,
        )
        self.grants = grant_types(password=settings.password_connector is not None)
        self.throttle = Throttle(storage, clock, settings.login_limits)
        self._refresh_identity = partial(refresh_identity, self.connectors)
        self._password_login = (
            PasswordGrantLogin(settings.password_connector, self.connectors, self.throttle, storage).login
            if settings.password_connector
            else None
        )
        self.sessions = Sessions(storage, settings.login_session_ttl)
        self.tokens = Tokens(
            settings=settings,
            storage=storage,
            keys=self.keys,
            lookup=self.client,
            grants=self.grants,
            context=self.grant_context,
            connectors=self.connectors,
        )
        self.token_endpoint = TokenEndpoint(self.tokens)
        self.devices = DeviceLogins(
            settings=settings,
            storage=storage,
            clock=clock,
            connectors=self.connectors,
            lookup=self.client,
            tokens=self.tokens,
            context=self.grant_context,
        )
        self.logins = Logins(
            settings=settings,
            storage=storage,
            clock=clock,
            connectors=self.connectors,
            sessions=self.sessions,
            tokens=self.tokens,
            lookup=self.client,
            context=self.grant_context,
            throttle=self.throttle,
            devices=self.devices,
        )
        self.logouts = Logouts(self.keys, self.sessions, clock, self.client)

    async def client(self, client_id: str) -> Client | None:
        """The client ``client_id`` (configured or stored), or ``None``."""
        if not client_id:
            return None
        try:
            return await self.storage.get(Client, client_id)
        except NotFound:
            return None

    def grant_context(self) -> GrantContext:
        """What a grant may use, now."""
        return GrantContext(
            storage=self.storage,
            now=self.clock.now(),
            refresh=self.refresh_policy,
            refresh_identity=self._refresh_identity,
            password_login=self._password_login,
        )


async def collect_garbage(provider: Provider) -> None:
    """One round: expired records go (in one replica at a time), keys rotate when due."""
    removed = await provider.storage.garbage_collect(provider.clock.now())
    if removed.total:
        log.info("garbage collected", extra={"removed": removed.removed})
    await provider.keys.current()  # rotates when due, also on a quiet provider

"""The provider's core, without a web framework: one :class:`Provider` composed of small parts.

=====================  ===========================================================================
part                   what it owns
=====================  ===========================================================================
:mod:`.login`          ``/auth``, the chooser, the password form, ``{path}/callback``, device logins
:mod:`.sso`            the login session (SSO cookie) and its end
:mod:`.tokens`         ``/token``, issuing, ``/userinfo``, introspection, revocation
:mod:`.logout`         RP-initiated logout
:mod:`.connectors`     the configured connectors and the refresh hook
=====================  ===========================================================================

Routes parse the HTTP request into the arguments below, call one method, and render what comes back
(a value from :mod:`.outcomes`, or an :class:`~idgate.oauth2.errors.OAuthError` that :mod:`.render` turns
into a page, a redirect or JSON).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from idgate.clock import Clock
from idgate.connectors.base import Connector, PasswordConnector, refreshes
from idgate.connectors.errors import LoginRefused, UpstreamFailed
from idgate.errors import NotFound
from idgate.oauth2.errors import InvalidGrant, TemporarilyUnavailable
from idgate.oauth2.grants import GrantContext, RefreshPolicy, grant_types
from idgate.oauth2.grants import device_code as device_grant
from idgate.oauth2.redirect_uris import add_query
from idgate.oauth2.requests import (
    AuthorizationRequest,
    LogoutRequest,
    Params,
    parse_device_authorization,
)
from idgate.oidc.keys import KeyRing
from idgate.provider import connectors as connector_hooks
from idgate.provider import second_factor
from idgate.provider.login import Finished, LoginExpired, Logins
from idgate.provider.logout import Logouts
from idgate.provider.outcomes import (
    ApprovalForm,
    ApprovalNeeded,
    ChooseConnector,
    ConfirmLogout,
    DeviceApproved,
    GoUpstream,
    LoggedOut,
    LoginDone,
    LoginForm,
    LoginStarted,
    SecondFactorForm,
)
from idgate.provider.sso import Sessions
from idgate.provider.throttle import Throttle, Throttled
from idgate.provider.token_endpoint import TokenEndpoint
from idgate.provider.tokens import Tokens
from idgate.settings import ProviderSettings
from idgate.storage.base import Claims, Client, Storage

__all__ = [
    "ApprovalForm",
    "ApprovalNeeded",
    "ChooseConnector",
    "ConfirmLogout",
    "DeviceApproved",
    "GoUpstream",
    "LoggedOut",
    "LoginDone",
    "LoginExpired",
    "LoginForm",
    "LoginStarted",
    "Provider",
    "SecondFactorForm",
]

log = logging.getLogger("idgate.provider")


class Provider:
    """One provider: its settings, storage, clock, signing keys and connectors."""

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
        self.sessions = Sessions(storage, settings.login_session_ttl)
        self.tokens = Tokens(
            settings=settings,
            storage=storage,
            keys=self.keys,
            lookup=self.client,
            grants=self.grants,
            context=self.grant_context,
            can_refresh=self.can_refresh,
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
            throttle=Throttle(storage, clock, settings.login_limits),
        )
        self.logouts = Logouts(self.keys, self.sessions, clock, self.client)
        self.token_endpoint = TokenEndpoint(self.tokens)
        self.throttle = self.logins.throttle

    async def client(self, client_id: str) -> Client | None:
        if not client_id:
            return None
        try:
            return await self.storage.get(Client, client_id)
        except NotFound:
            return None

    def can_refresh(self, connector_id: str) -> bool:
        connector = self.connectors.get(connector_id)
        return connector is not None and refreshes(connector)

    async def _refresh_identity(
        self, connector_id: str, scopes: tuple[str, ...], claims: Claims, data: str
    ) -> tuple[Claims, str]:
        return await connector_hooks.refresh_identity(self.connectors, connector_id, scopes, claims, data)

    async def _password_login(
        self, scopes: tuple[str, ...], username: str, password: str
    ) -> tuple[str, Claims, str] | None:
        connector = self.connectors.get(self.settings.password_connector or "")
        if not isinstance(connector, PasswordConnector):
            return None
        started = self.throttle.started()
        counted = await self.throttle.counted_as(connector, username)
        try:
            await self.throttle.check(counted, "")
        except Throttled:
            await self.throttle.fail_slowly(started)
            return None
        try:
            identity = await connector.login(scopes, username, password)
        except LoginRefused as exc:  # the password was right, the account is not usable (its email ...)
            await self.throttle.fail_slowly(started)
            raise InvalidGrant(exc.reason) from None
        except UpstreamFailed as exc:  # nothing was decided about the person: nothing is counted
            log.warning("password grant: the connector could not check the password: %s", exc.reason)
            raise TemporarilyUnavailable("the directory could not check the password; try again") from None
        if identity is None:
            await self.throttle.failed(counted, "")
            await self.throttle.fail_slowly(started)
            return None
        if await second_factor.enrolled(self.storage, connector, identity) is not None:
            # the password grant has no step for a code: a user with a second factor signs in in a browser
            log.info(
                "password grant refused: the user has a second factor",
                extra={"connector_id": connector.id, "event": "login", "result": "second_factor_required"},
            )
            await self.throttle.fail_slowly(started)
            return None
        await self.throttle.succeeded(counted)
        return connector.id, connector_hooks.claims_of(identity), identity.connector_data

    def grant_context(self) -> GrantContext:
        return GrantContext(
            storage=self.storage,
            now=self.clock.now(),
            refresh=self.refresh_policy,
            refresh_identity=self._refresh_identity,
            password_login=self._password_login if self.settings.password_connector else None,
        )

    # -- browser -----------------------------------------------------------------------------

    async def authorize(
        self, request: AuthorizationRequest, connector_id: str | None, browser: str, session: str = ""
    ) -> LoginDone | ApprovalNeeded | LoginStarted | ChooseConnector:
        return await self.logins.authorize(request, connector_id, browser, session)

    async def login_form(self, request_id: str, connector_id: str, browser: str) -> LoginForm | GoUpstream:
        return await self.logins.select(request_id, connector_id, browser)

    async def login(  # noqa: PLR0917 - the form's fields, in the form's order
        self,
        request_id: str,
        connector_id: str,
        browser: str,
        username: str,
        password: str,
        session: str = "",
        address: str = "",
    ) -> LoginForm | SecondFactorForm | Finished:
        return await self.logins.login(
            request_id, connector_id, browser, username, password, session, address
        )

    async def second_factor(  # noqa: PLR0917 - the form's fields, in the form's order
        self,
        request_id: str,
        connector_id: str,
        browser: str,
        code: str,
        session: str = "",
        address: str = "",
    ) -> SecondFactorForm | Finished:
        return await self.logins.second_factor(request_id, connector_id, browser, code, session, address)

    async def callback(self, query: Mapping[str, str], browser: str, session: str = "") -> Finished:
        return await self.logins.callback(query, browser, session)

    async def approval_form(self, request_id: str, browser: str) -> ApprovalForm:
        return await self.logins.approval_form(request_id, browser)

    async def approve(self, request_id: str, browser: str, answer: str) -> Finished:
        return await self.logins.approve(request_id, browser, answer)

    async def device_login(self, user_code: str, browser: str) -> LoginStarted | ChooseConnector:
        return await self.logins.start_device_login(user_code, browser)

    async def logout(
        self, request: LogoutRequest, browser: str, session: str, confirmed: str = ""
    ) -> LoggedOut | ConfirmLogout:
        return await self.logouts.logout(request, browser, session, confirmed)

    # -- back channel ------------------------------------------------------------------------

    async def device_authorization(self, authorization: str | None, params: Params) -> dict[str, Any]:
        """``/device/code`` (RFC 8628 §3.1-3.2)."""
        client = await self.tokens.authenticate(authorization, params)
        request = parse_device_authorization(params)
        started = await device_grant.start(
            self.grant_context(), client, request.scopes, self.settings.device_request_ttl
        )
        verification = f"{self.settings.issuer}/device"
        return {
            "device_code": started.device_code,
            "user_code": device_grant.format_user_code(started.user_code),
            "verification_uri": verification,
            "verification_uri_complete": add_query(verification, {"user_code": started.user_code}),
            "expires_in": started.expires_in,
            "interval": started.interval,
        }

    async def userinfo(self, bearer: str) -> dict[str, Any]:
        return await self.tokens.userinfo(bearer, self.clock.now())

    async def introspect(self, authorization: str | None, params: Params) -> dict[str, Any]:
        return await self.tokens.introspect(authorization, params, self.clock.now())

    async def revoke(self, authorization: str | None, params: Params) -> None:
        await self.tokens.revoke(authorization, params, self.clock.now())

    async def jwks(self) -> dict[str, Any]:
        return (await self.keys.current()).jwks

"""Logins at the provider: ``/auth`` (RFC 6749 §4.1.1, OIDC Core §3.1.2), the connector chooser, the
password form, the callback connectors' return to ``{path}/callback``, and the end of every login.

A pending login is an :class:`~idgate.storage.base.AuthRequest` bound to the browser (the SHA-256 of its
``idgate_browser`` cookie). Its id is the ``req`` of the login form and the ``state`` sent to an upstream
(a callback from another browser finds nothing). Finishing a login claims the request by deleting it, so
a double submit yields one answer.

How a login ends depends on the request:

- ``response_type=code``: a code (≤ 60 s, single use, hashed) and a redirect with ``code``, ``state``,
  ``iss`` (RFC 9207).
- implicit (``token``, ``id_token``, ``id_token token``; only when configured): tokens in the fragment.
- a device login (RFC 8628): the device token is approved and the person sees "go back to your device".

A password connector that cannot check the password (its directory unreachable: 503, failing: 502) gives
the form again with that status, and nothing is counted or stored: the same form works once it is back.

A ``local`` user with a second factor (:mod:`.second_factor`) passes the password form, then a code form:
the right password only records who passed it in the pending login (``password_passed``, for
:data:`~.second_factor.CODE_TTL`) and clears none of the account's failures. The code's POST, bound to
the browser and the request like the password's, is throttled on the same counters; only a right code
finishes the login (no SSO session and no code before it).

With ``skipApprovalScreen: false`` or ``prompt=consent`` a browser login ends at the approval screen
(:mod:`.approval`) instead: the request is stored again with ``approval_pending``, and only its
``approve`` answer finishes the login.

Every step is logged on ``idgate.provider`` with ``event: login``, its ``result`` and the
``client_ip`` the web layer found behind the trusted proxies; a failed password (or code) also with the
``login`` name that was typed (:func:`typed_login`), never the password.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping

from idgate.clock import Clock
from idgate.connectors.base import CallbackConnector, Connector, Identity, PasswordConnector
from idgate.connectors.errors import ConnectorError, LoginRefused, UpstreamFailed, UpstreamUnavailable
from idgate.errors import NotFound
from idgate.oauth2 import client_auth, response_types
from idgate.oauth2.errors import (
    AccessDenied,
    ConsentRequired,
    InvalidRequest,
    LoginRequired,
    OAuthError,
    ServerError,
    TemporarilyUnavailable,
)
from idgate.oauth2.grants import Grant, GrantContext
from idgate.oauth2.grants import authorization_code as code_grant
from idgate.oauth2.redirect_uris import add_query
from idgate.oauth2.requests import AuthorizationRequest
from idgate.oidc import prompt as prompts
from idgate.provider import approval
from idgate.provider import second_factor as factors
from idgate.provider.connectors import allowed_connectors, claims_of, identity_of
from idgate.provider.device_login import DeviceLogins
from idgate.provider.outcomes import (
    ApprovalForm,
    ApprovalNeeded,
    ChooseConnector,
    DeviceApproved,
    GoUpstream,
    LoginDone,
    LoginForm,
    LoginStarted,
    SecondFactorForm,
)
from idgate.provider.sso import Sessions
from idgate.provider.throttle import Throttle, Throttled
from idgate.provider.tokens import Tokens, check_peers
from idgate.settings import ProviderSettings
from idgate.storage.base import (
    ApprovalPending,
    AuthRequest,
    Claims,
    Client,
    LoginSession,
    PasswordPassed,
    Storage,
    secret_id,
)

log = logging.getLogger("idgate.provider")

ClientLookup = Callable[[str], Awaitable[Client | None]]
Finished = LoginDone | DeviceApproved | ApprovalNeeded


class LoginExpired(InvalidRequest):
    """The login belongs to no pending request (expired, finished, or another browser's)."""

    def __init__(self) -> None:
        super().__init__(
            "This login request has expired or was already used. "
            "Go back to the application and sign in again."
        )


#: How much of a typed login name a log line keeps (the form accepts longer ones).
LOGIN_IN_LOG = 256


def typed_login(username: str) -> str:
    """The login name as a log line shows it: at most :data:`LOGIN_IN_LOG` characters."""
    return username if len(username) <= LOGIN_IN_LOG else username[:LOGIN_IN_LOG] + "..."


def _locked_message(exc: Throttled) -> str:
    minutes = max(1, int(exc.retry_after + 59) // 60)
    return f"Too many failed sign-in attempts. Try again in {minutes} minute(s)."


def _log_unregistered(exc: code_grant.UnregisteredRedirectUri) -> None:
    """The ``redirect_uri`` that arrived and what the client has, for the operator (both escaped)."""
    client = exc.client
    registered = ", ".join(code_grant.shown(u) for u in client.redirect_uris) or "none"
    log.warning(
        "authorization refused: redirect_uri %s is not registered for client %s (registered: %s)",
        code_grant.shown(exc.redirect_uri),
        code_grant.shown(client.id),
        registered,
        extra={
            "event": "authorize",
            "result": "redirect_uri_not_registered",
            "client_id": client.id,
            "redirect_uri": code_grant.shown(exc.redirect_uri),
        },
    )


class Logins:
    """Every browser step of a login; a device login ends by approving its code (``devices``)."""

    def __init__(
        self,
        *,
        settings: ProviderSettings,
        storage: Storage,
        clock: Clock,
        connectors: Mapping[str, Connector],
        sessions: Sessions,
        tokens: Tokens,
        lookup: ClientLookup,
        context: Callable[[], GrantContext],
        throttle: Throttle,
        devices: DeviceLogins,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.clock = clock
        self.connectors = connectors
        self.sessions = sessions
        self.tokens = tokens
        self.lookup = lookup
        self.context = context
        self.throttle = throttle
        self.devices = devices

    @property
    def callback_url(self) -> str:
        return f"{self.settings.issuer}/callback"

    # -- /auth -------------------------------------------------------------------------------

    async def authorize(
        self, request: AuthorizationRequest, path_connector: str | None, browser: str, session_cookie: str
    ) -> LoginDone | ApprovalNeeded | LoginStarted | ChooseConnector:
        """Validate, then answer from the SSO session, or store a pending login."""
        client = await self.lookup(request.client_id)
        try:
            valid = code_grant.validate(
                request, client, allowed_response_types=response_types.enabled(self.settings.response_types)
            )
        except code_grant.UnregisteredRedirectUri as exc:
            _log_unregistered(exc)
            raise
        implicit = response_types.is_implicit(valid.response_type)
        try:
            await check_peers(self.lookup, valid.client, valid.scopes)
        except OAuthError as exc:
            raise exc.redirecting(valid.redirect_uri, valid.state, fragment=implicit) from None
        allowed = allowed_connectors(self.connectors, valid.client)
        if not allowed:
            raise ServerError("no login method is configured for this client")
        wanted = path_connector or valid.connector_id
        if wanted and wanted not in allowed:
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
            connector_id=wanted or "",
            browser=secret_id(browser),
            expires_at=now + self.settings.auth_request_ttl,
            response_type=valid.response_type,
            prompt=valid.prompt,
            max_age=valid.max_age,
        )
        session = await self.sessions.current(session_cookie, now)
        if (
            session is not None
            and session.connector_id in allowed
            and wanted in ("", session.connector_id)
            and prompts.session_usable(session.auth_time, valid.prompt, valid.max_age, now)
        ):
            done = await self._finish(
                pending, session.claims, session.connector_id, session.connector_data, session
            )
            assert not isinstance(done, DeviceApproved)
            return done
        if prompts.NONE in valid.prompt:
            raise LoginRequired("the person must log in").redirecting(
                valid.redirect_uri, valid.state, fragment=implicit
            )
        if not wanted and len(allowed) == 1 and not self.settings.always_show_login_screen:
            pending = dataclasses.replace(pending, connector_id=next(iter(allowed)))
        await self.storage.create(pending)
        if pending.connector_id:
            return LoginStarted(pending.id, pending.connector_id)
        return ChooseConnector(pending.id, tuple(allowed.values()))

    # -- the pending login -------------------------------------------------------------------

    async def pending(self, request_id: str, browser: str) -> AuthRequest:
        """The pending login ``request_id`` of this browser, or :class:`LoginExpired`."""
        if not request_id or not browser:
            raise LoginExpired()
        try:
            found = await self.storage.get(AuthRequest, request_id)
        except NotFound:
            raise LoginExpired() from None
        if (
            not client_auth.secrets_equal(secret_id(browser), found.browser)
            or self.clock.now() >= found.expires_at
        ):
            raise LoginExpired()
        return found

    async def _client_name(self, pending: AuthRequest) -> str:
        client = await self.lookup(pending.client_id)
        return (client.name or client.id) if client else pending.client_id

    async def select(self, request_id: str, connector_id: str, browser: str) -> LoginForm | GoUpstream:
        """``GET /auth/{connector}/login?req=ID``: bind the connector, show its form or go upstream."""
        pending = await self.pending(request_id, browser)
        allowed = allowed_connectors(self.connectors, await self.lookup(pending.client_id))
        if connector_id not in allowed or pending.connector_id not in ("", connector_id):
            raise LoginExpired()
        if not pending.connector_id:

            def bind(r: AuthRequest) -> AuthRequest:
                if r.connector_id not in ("", connector_id):
                    raise LoginExpired()
                return dataclasses.replace(r, connector_id=connector_id)

            try:
                pending = await self.storage.update(AuthRequest, pending.id, bind)
            except NotFound:
                raise LoginExpired() from None
        connector = allowed[connector_id]
        if isinstance(connector, PasswordConnector):
            return LoginForm(pending.id, connector, await self._client_name(pending))
        if isinstance(connector, CallbackConnector):
            return GoUpstream(connector.login_url(pending.scopes, self.callback_url, pending.id))
        raise ServerError(f"connector {connector_id!r} cannot log anyone in")

    async def _claim(self, pending: AuthRequest) -> None:
        try:  # deleting claims the request: a double submit gets one answer, not two
            await self.storage.delete(AuthRequest, pending.id)
        except NotFound:
            raise LoginExpired() from None

    # -- password form -----------------------------------------------------------------------

    async def login(  # noqa: PLR0917 - the form's fields, in the form's order
        self,
        request_id: str,
        connector_id: str,
        browser: str,
        username: str,
        password: str,
        session_cookie: str,
        address: str = "",
        *,
        client: str = "",
    ) -> LoginForm | SecondFactorForm | Finished:
        """Check the credentials (throttled, :mod:`.throttle`); the form again on failure, the code form
        for a user with a second factor (:mod:`.second_factor`), else finish. ``address`` is what the
        throttle counts; ``client`` the client's address for the log."""
        pending = await self.pending(request_id, browser)
        connector = self.connectors.get(connector_id)
        if pending.connector_id != connector_id or not isinstance(connector, PasswordConnector):
            raise LoginExpired()
        failed = {
            "connector_id": connector_id,
            "event": "login",
            "login": typed_login(username),
            "client_ip": client,
        }
        started = self.throttle.started()
        counted = await self.throttle.counted_as(connector, username)  # the account, whichever name was typed
        try:
            await self.throttle.check(counted, address)
        except Throttled as exc:
            log.warning("password login throttled", extra={**failed, "result": "throttled"})
            await self.throttle.fail_slowly(started)
            return LoginForm(
                pending.id,
                connector,
                await self._client_name(pending),
                username=username,
                error=_locked_message(exc),
                status=429,
            )
        try:
            identity = await connector.login(pending.scopes, username, password)
        except LoginRefused as exc:  # the password was right, the account is not usable (its email ...)
            log.warning("password login refused", extra={**failed, "result": "refused", "reason": exc.reason})
            await self.throttle.fail_slowly(started)
            return LoginForm(
                pending.id, connector, await self._client_name(pending), username, exc.reason, status=403
            )
        except UpstreamFailed as exc:
            return await self._not_checked(pending, connector, username, exc, failed)
        if identity is None:
            log.info("password login failed", extra={**failed, "result": "failure"})
            await self.throttle.failed(counted, address)
            await self.throttle.fail_slowly(started)
            return LoginForm(
                pending.id,
                connector,
                await self._client_name(pending),
                username=username,
                error="Invalid email or password.",
            )
        factor = await factors.enrolled(self.storage, connector, identity)
        if factor is not None:  # not signed in yet, and the account's failures stay counted
            return await self._ask_code(pending, connector, counted, factor, identity, client)
        await self.throttle.succeeded(counted)
        return await self._fresh(pending, identity, session_cookie, client)

    async def _not_checked(
        self,
        pending: AuthRequest,
        connector: PasswordConnector,
        username: str,
        exc: UpstreamFailed,
        fields: Mapping[str, str],
    ) -> LoginForm:
        """The connector could not check the password (its directory unreachable or failing): the form
        again with 503 (502), nothing counted and nothing stored, so the same form works once it is back.
        The reason (server, error) goes to the log, not to the page."""
        down = isinstance(exc, UpstreamUnavailable)
        log.warning(
            "password login: the connector could not check the password: %s",
            exc.reason,
            extra={**fields, "result": "upstream_unavailable" if down else "upstream_failed"},
        )
        error = (
            f"The directory ({connector.name}) could not be reached, so your password was not checked. "
            "Please try again in a moment."
            if down
            else f"The directory ({connector.name}) could not check your password. "
            "Please try again later, or tell your administrator."
        )
        client = await self._client_name(pending)
        return LoginForm(pending.id, connector, client, username=username, error=error, status=exc.status)

    # -- second factor (.second_factor) ------------------------------------------------------

    async def _ask_code(  # noqa: PLR0917
        self,
        pending: AuthRequest,
        connector: PasswordConnector,
        username: str,
        factor: str,
        identity: Identity,
        client: str,
    ) -> SecondFactorForm:
        """Remember who passed the password step (in the pending login, for a few minutes); ask for the
        code."""
        passed = PasswordPassed(
            login=username,
            factor_id=factor,
            claims=claims_of(identity),
            connector_data=identity.connector_data,
            until=self.clock.now() + factors.CODE_TTL,
        )
        try:
            await self.storage.update(
                AuthRequest, pending.id, lambda r: dataclasses.replace(r, password_passed=passed)
            )
        except NotFound:
            raise LoginExpired() from None
        log.info(
            "password accepted, second factor required",
            extra={
                "connector_id": connector.id,
                "event": "login",
                "result": "second_factor_required",
                "client_ip": client,
            },
        )
        return SecondFactorForm(pending.id, connector, await self._client_name(pending))

    async def second_factor(  # noqa: PLR0917 - the form's fields, in the form's order
        self,
        request_id: str,
        connector_id: str,
        browser: str,
        code: str,
        session_cookie: str,
        address: str = "",
        *,
        client: str = "",
    ) -> SecondFactorForm | Finished:
        """Check the code of a login whose password step passed (throttled like the password, on the
        same counters); the form again on failure, else finish. ``client``: as for :meth:`login`."""
        pending = await self.pending(request_id, browser)
        connector = self.connectors.get(connector_id)
        passed = pending.password_passed
        if (
            passed is None
            or pending.connector_id != connector_id
            or not isinstance(connector, PasswordConnector)
            or self.clock.now() >= passed.until
        ):
            raise LoginExpired()
        extra = {"connector_id": connector_id, "event": "login", "client_ip": client}
        failed = {**extra, "login": typed_login(passed.login)}
        started = self.throttle.started()
        try:
            await self.throttle.check(passed.login, address)
        except Throttled as exc:
            log.warning("second factor throttled", extra={**failed, "result": "second_factor_throttled"})
            await self.throttle.fail_slowly(started)
            return SecondFactorForm(
                pending.id, connector, await self._client_name(pending), _locked_message(exc), 429
            )
        try:
            used = await factors.verify(self.storage, passed.factor_id, code, self.clock.now())
        except NotFound:  # the second factor was removed meanwhile: start again
            raise LoginExpired() from None
        if used is None:
            log.info("second factor failed", extra={**failed, "result": "second_factor_failed"})
            await self.throttle.failed(passed.login, address)
            await self.throttle.fail_slowly(started)
            return SecondFactorForm(
                pending.id,
                connector,
                await self._client_name(pending),
                "That code is not valid. Enter the current code from your authenticator app.",
            )
        log.info("second factor passed", extra={**extra, "result": "second_factor_passed", "method": used})
        await self.throttle.succeeded(passed.login)
        identity = identity_of(passed.claims, passed.connector_data)
        return await self._fresh(pending, identity, session_cookie, client)

    # -- {path}/callback ---------------------------------------------------------------------

    async def callback(
        self, query: Mapping[str, str], browser: str, session_cookie: str, *, client: str = ""
    ) -> Finished:
        """An upstream's answer (``state`` is the pending login's id) -> finish the login (``client``:
        the client's address, for the log)."""
        pending = await self.pending(query.get("state", ""), browser)
        connector = self.connectors.get(pending.connector_id)
        if not isinstance(connector, CallbackConnector):
            raise LoginExpired()
        try:
            identity = await connector.handle_callback(pending.scopes, self.callback_url, query)
        except ConnectorError as exc:
            await self._claim(pending)
            error: OAuthError = (
                TemporarilyUnavailable(exc.reason)
                if isinstance(exc, UpstreamFailed)
                else AccessDenied(exc.reason)
            )
            log.info(
                "upstream login refused",
                extra={
                    "connector_id": connector.id,
                    "reason": exc.reason,
                    "event": "login",
                    "result": "refused",
                    "client_ip": client,
                },
            )
            if pending.device_user_code:
                raise error from None
            raise error.redirecting(
                pending.redirect_uri,
                pending.state,
                fragment=response_types.is_implicit(pending.response_type),
            ) from None
        return await self._fresh(pending, identity, session_cookie, client)

    # -- the end of a login ------------------------------------------------------------------

    async def _fresh(
        self, pending: AuthRequest, identity: Identity, session_cookie: str, client: str = ""
    ) -> Finished:
        """A person just authenticated: claim the request, start an SSO session, finish."""
        await self._claim(pending)
        cookie, session = await self.sessions.start(
            connector_id=pending.connector_id,
            claims=claims_of(identity),
            connector_data=identity.connector_data,
            now=self.clock.now(),
            replaces=session_cookie,
        )
        log.info(
            "login succeeded",
            extra={
                "client_id": pending.client_id,
                "connector_id": pending.connector_id,
                "event": "login",
                "result": "success",
                "email": identity.email,
                "client_ip": client,
            },
        )
        return await self._finish(
            pending, session.claims, pending.connector_id, identity.connector_data, session, cookie
        )

    async def _finish(  # noqa: PLR0917
        self,
        pending: AuthRequest,
        claims: Claims,
        connector_id: str,
        connector_data: str,
        session: LoginSession,
        cookie: str | None = None,
        *,
        approved: bool = False,
    ) -> Finished:
        now = self.clock.now()
        pending = dataclasses.replace(pending, connector_id=connector_id)
        skip = self.settings.skip_approval_screen
        if not approved and approval.needed(pending.prompt, skip=skip, device=bool(pending.device_user_code)):
            return await self._ask_approval(pending, claims, connector_data, session, cookie)
        if pending.device_user_code:
            await self.devices.approve_device(pending, claims, connector_data, session, now)
            return DeviceApproved(await self._client_name(pending), cookie)
        params: dict[str, str]
        if pending.response_type == response_types.CODE:
            code, record = code_grant.issue_code(
                pending,
                claims,
                now,
                self.settings.code_ttl,
                auth_time=session.auth_time,
                session_id=session.id,
                connector_data=connector_data,
            )
            await self.storage.create(record)
            params = {"code": code}
        else:
            params = await self._implicit(pending, claims, connector_data, session)
        return self._back(pending, params, cookie)

    def _back(self, pending: AuthRequest, params: dict[str, str], cookie: str | None = None) -> LoginDone:
        """Back to the client with ``params``, ``state`` and ``iss`` (RFC 9207)."""
        params.update({"state": pending.state} if pending.state else {}, iss=self.settings.issuer)
        fragment = response_types.is_implicit(pending.response_type)
        return LoginDone(add_query(pending.redirect_uri, params, fragment=fragment), cookie)

    # -- the approval screen (.approval) -----------------------------------------------------

    async def _ask_approval(
        self, pending: AuthRequest, claims: Claims, data: str, session: LoginSession, cookie: str | None
    ) -> ApprovalNeeded:
        """Store the request again, waiting for the person's answer; ``consent_required`` for
        ``prompt=none`` (OIDC Core §3.1.2.6)."""
        if prompts.NONE in pending.prompt:
            raise ConsentRequired("the person must approve this request").redirecting(
                pending.redirect_uri,
                pending.state,
                fragment=response_types.is_implicit(pending.response_type),
            )
        until = self.clock.now() + approval.APPROVAL_TTL
        waiting = ApprovalPending(claims, data, session.id, until)
        await self.storage.create(
            dataclasses.replace(pending, approval_pending=waiting, password_passed=None)
        )
        return ApprovalNeeded(pending.id, cookie)

    async def _waiting(self, request_id: str, browser: str) -> tuple[AuthRequest, ApprovalPending]:
        pending = await self.pending(request_id, browser)
        waiting = pending.approval_pending
        if waiting is None or self.clock.now() >= waiting.until:
            raise LoginExpired()
        return pending, waiting

    async def approval_form(self, request_id: str, browser: str) -> ApprovalForm:
        """``GET {issuer}/approval?req=ID``: what the client asks, in words."""
        pending, _ = await self._waiting(request_id, browser)
        asks = approval.asks(pending.scopes, await approval.peer_names(pending.scopes, self.lookup))
        return ApprovalForm(pending.id, await self._client_name(pending), asks)

    async def approve(self, request_id: str, browser: str, answer: str) -> Finished:
        """``POST {issuer}/approval``: grant (finish the login) or deny (``access_denied`` to the client)."""
        if answer not in (approval.APPROVE, approval.DENY):
            raise InvalidRequest("approval must be approve or deny")
        pending, waiting = await self._waiting(request_id, browser)
        await self._claim(pending)
        extra = {"client_id": pending.client_id, "connector_id": pending.connector_id, "event": "approval"}
        if answer == approval.DENY:  # an answer to the form, so a 303 like any other (not an error page)
            log.info("approval denied", extra={**extra, "result": "denied"})
            return self._back(pending, {"error": AccessDenied.code, "error_description": "access denied"})
        try:
            session = await self.storage.get(LoginSession, waiting.session_id)
        except NotFound:  # logged out meanwhile
            raise LoginExpired() from None
        log.info("approval granted", extra={**extra, "result": "granted"})
        claims, data = waiting.claims, waiting.connector_data
        return await self._finish(pending, claims, pending.connector_id, data, session, approved=True)

    async def _implicit(
        self, pending: AuthRequest, claims: Claims, connector_data: str, session: LoginSession
    ) -> dict[str, str]:
        """The implicit flow's answer (RFC 6749 §4.2.2, OIDC Core §3.2.2.5)."""
        grant = Grant(
            client_id=pending.client_id,
            scopes=pending.scopes,
            claims=claims,
            connector_id=pending.connector_id,
            nonce=pending.nonce,
            auth_time=session.auth_time,
            session_id=session.id,
            connector_data=connector_data,
            grant_id=secrets.token_urlsafe(18),
        )
        parts = pending.response_type.split()
        with_access = response_types.TOKEN in parts
        doc = await self.tokens.issue(self.context(), grant, refresh=False, with_access=with_access)
        params: dict[str, str] = {}
        if with_access:
            params.update(
                access_token=doc["access_token"], token_type="Bearer", expires_in=str(doc["expires_in"])
            )
        if response_types.ID_TOKEN in parts:
            params["id_token"] = doc["id_token"]
        return params

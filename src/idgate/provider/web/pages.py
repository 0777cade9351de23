"""The provider's browser routes: ``/auth``, the chooser and login form, the second-factor form,
``/callback``, the approval screen, ``/device``, ``/logout``. Each parses, calls
:class:`~idgate.provider.core.Provider`'s parts, and renders an outcome (:mod:`..outcomes`).

Cookies (``Path`` = the issuer path, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` under https):

- ``idgate_browser`` binds a pending login to the browser that started it;
- ``idgate_session`` is the SSO login session (:mod:`..sso`), for ``dex``'s ``login_session_lifetime``.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

from aiohttp import web

from idgate.edge.trust import DEFAULT_TRUST
from idgate.oauth2.grants.device_code import shown_user_code
from idgate.oauth2.requests import parse_authorization_request, parse_logout_request
from idgate.provider.answers import Surface
from idgate.provider.outcomes import (
    ApprovalForm,
    ApprovalNeeded,
    ChooseConnector,
    ConfirmLogout,
    DeviceApproved,
    GoUpstream,
    LoginDone,
    LoginForm,
    LoginStarted,
    SecondFactorForm,
)
from idgate.provider.sso import COOKIE as SESSION_COOKIE
from idgate.provider.throttle import client_address
from idgate.provider.web.render import page, redirect
from idgate.provider.web.routes import PROVIDER, endpoint, params_of, request_params
from idgate.provider.web.theme import look_of

#: Binds a pending login to the browser that started it (its SHA-256 is in the AuthRequest).
BROWSER_COOKIE = "idgate_browser"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_\-]{43}")


def _browser(request: web.Request) -> tuple[str, bool]:
    """This browser's binding secret, and whether it is new (then the response must set it)."""
    value = request.cookies.get(BROWSER_COOKIE, "")
    if _COOKIE_VALUE.fullmatch(value):
        return value, False
    return secrets.token_urlsafe(32), True


def _secure(request: web.Request) -> bool:
    provider = request.app[PROVIDER]
    return (
        provider.settings.issuer.startswith("https://")
        or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    )


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        path=request.app[PROVIDER].settings.path or "/",
        httponly=True,
        secure=_secure(request),
        samesite="Lax",
        max_age=max_age,
    )


def _with_browser(
    request: web.Request, response: web.StreamResponse, browser: str, new: bool
) -> web.StreamResponse:
    if new:
        _set_cookie(request, response, BROWSER_COOKIE, browser)
    return response


def _login_url(request: web.Request, connector_id: str, request_id: str) -> str:
    prefix = request.app[PROVIDER].settings.path
    return f"{prefix}/auth/{connector_id}/login?" + urlencode({"req": request_id})


def _render(
    request: web.Request,
    result: LoginDone
    | LoginStarted
    | ChooseConnector
    | LoginForm
    | SecondFactorForm
    | GoUpstream
    | DeviceApproved
    | ApprovalNeeded
    | ApprovalForm,
) -> web.StreamResponse:
    """One rendering per outcome of a login step."""
    provider = request.app[PROVIDER]
    settings = provider.settings
    response: web.StreamResponse
    if isinstance(result, ChooseConnector):
        links = [(c.name, _login_url(request, c.id, result.request_id)) for c in result.connectors]
        return page("connectors.html", links=links, look=look_of(request.app))
    if isinstance(result, LoginStarted):
        return redirect(_login_url(request, result.connector_id, result.request_id), status=303)
    if isinstance(result, LoginForm):
        return page(
            "login.html",
            action=f"{settings.path}/auth/{result.connector.id}/login",
            request_id=result.request_id,
            prompt=result.connector.prompt,
            connector_name=result.connector.name,
            client_name=result.client_name,
            username=result.username,
            error=result.error,
            look=look_of(request.app),
            status=result.status,
        )
    if isinstance(result, SecondFactorForm):
        return page(
            "totp.html",
            action=f"{settings.path}/auth/{result.connector.id}/totp",
            request_id=result.request_id,
            client_name=result.client_name,
            error=result.error,
            look=look_of(request.app),
            status=result.status,
        )
    if isinstance(result, GoUpstream):
        return redirect(result.location, status=303)
    if isinstance(result, ApprovalForm):
        return page(
            "approval.html",
            action=f"{settings.path}/approval",
            request_id=result.request_id,
            client_name=result.client_name,
            asks=result.asks,
            look=look_of(request.app),
        )
    if isinstance(result, DeviceApproved):
        response = page("device_done.html", client_name=result.client_name, look=look_of(request.app))
    elif isinstance(result, ApprovalNeeded):
        location = f"{settings.path}/approval?" + urlencode({"req": result.request_id})
        response = redirect(location, status=303)
    else:  # after a POST (credentials, a form) 303, so no browser repeats the POST (RFC 9110 §15.4.4)
        response = redirect(result.redirect_to, status=303 if request.method == "POST" else 302)
    if result.session_cookie is not None:
        _set_cookie(request, response, SESSION_COOKIE, result.session_cookie, int(settings.login_session_ttl))
    return response


@endpoint(Surface.BROWSER)
async def auth(request: web.Request) -> web.StreamResponse:
    """``/auth`` and ``/auth/{connector}``: validate; answer from the SSO session or start a login."""
    provider = request.app[PROVIDER]
    params = await request_params(request)
    browser, new = _browser(request)
    result = await provider.logins.authorize(
        parse_authorization_request(params),
        request.match_info.get("connector"),
        browser,
        request.cookies.get(SESSION_COOKIE, ""),
    )
    return _with_browser(request, _render(request, result), browser, new)


@endpoint(Surface.BROWSER)
async def login(request: web.Request) -> web.StreamResponse:
    """``/auth/{connector}/login``: GET shows the form (or goes upstream), POST checks the form."""
    provider = request.app[PROVIDER]
    connector_id = request.match_info["connector"]
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if request.method == "GET":
        return _render(
            request, await provider.logins.select(request.query.get("req", ""), connector_id, browser)
        )
    data = await request.post()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    result = await provider.logins.login(
        fields.get("req", ""),
        connector_id,
        browser,
        fields.get("login", ""),
        fields.get("password", ""),
        request.cookies.get(SESSION_COOKIE, ""),
        client_address(request.headers.get("X-Forwarded-For", ""), request.remote or ""),
        client=_client(request),
    )
    return _render(request, result)


def _client(request: web.Request) -> str:
    """The client's address for the log: behind the proxies the edge trusts for the provider (the
    default ones), from the ``X-Forwarded-For`` the edge wrote (:meth:`~idgate.edge.trust.Trust.client`)."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded:
        return request.remote or ""
    return DEFAULT_TRUST.forwarded_client(forwarded, request.headers.get("X-Real-IP", ""))


@endpoint(Surface.BROWSER)
async def second_factor(request: web.Request) -> web.StreamResponse:
    """``POST /auth/{connector}/totp``: the code of a login whose password step passed (:mod:`..login`)."""
    provider = request.app[PROVIDER]
    fields = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    result = await provider.logins.second_factor(
        fields.get("req", ""),
        request.match_info["connector"],
        request.cookies.get(BROWSER_COOKIE, ""),
        fields.get("code", ""),
        request.cookies.get(SESSION_COOKIE, ""),
        client_address(request.headers.get("X-Forwarded-For", ""), request.remote or ""),
        client=_client(request),
    )
    return _render(request, result)


@endpoint(Surface.BROWSER)
async def callback(request: web.Request) -> web.StreamResponse:
    """``{path}/callback``: an upstream returns (GET query, or a POSTed form) with ``state``."""
    values = params_of(await request.post()) if request.method == "POST" else params_of(request.query)
    query = {k: v[0] for k, v in values.items() if len(v) == 1}
    provider = request.app[PROVIDER]
    result = await provider.logins.callback(
        query,
        request.cookies.get(BROWSER_COOKIE, ""),
        request.cookies.get(SESSION_COOKIE, ""),
        client=_client(request),
    )
    return _render(request, result)


@endpoint(Surface.BROWSER)
async def approval(request: web.Request) -> web.StreamResponse:
    """``{path}/approval``: GET ``?req=ID`` shows the approval screen, POST ``req`` + ``approval``
    (``approve`` or ``deny``) answers it (:mod:`..approval`)."""
    provider = request.app[PROVIDER]
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if request.method == "GET":
        return _render(request, await provider.logins.approval_form(request.query.get("req", ""), browser))
    fields = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    return _render(
        request, await provider.logins.approve(fields.get("req", ""), browser, fields.get("approval", ""))
    )


@endpoint(Surface.BROWSER)
async def device(request: web.Request) -> web.StreamResponse:
    """``{path}/device``: the page where a person enters a user code (RFC 8628 §3.3); with
    ``?user_code=`` (``verification_uri_complete``) it is filled in, as ``XXXX-XXXX`` like the device
    shows it, and the person confirms. A code is accepted with or without the dash, in any case."""
    provider = request.app[PROVIDER]
    settings = provider.settings
    browser, new = _browser(request)
    if request.method == "GET":
        response = page(
            "device.html",
            action=f"{settings.path}/device",
            user_code=shown_user_code(request.query.get("user_code", "")[:32]),
            error="",
            look=look_of(request.app),
        )
        return _with_browser(request, response, browser, new)
    fields = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    typed = fields.get("user_code", "")[:32]
    from idgate.oauth2.errors import InvalidRequest

    try:
        result = await provider.devices.start_device_login(typed, browser)
    except InvalidRequest as exc:
        response = page(
            "device.html",
            status=400,
            action=f"{settings.path}/device",
            user_code=typed,
            error=exc.description,
            look=look_of(request.app),
        )
        return _with_browser(request, response, browser, new)
    return _with_browser(request, _render(request, result), browser, new)


@endpoint(Surface.BROWSER)
async def logout(request: web.Request) -> web.StreamResponse:
    """``{path}/logout``: RP-initiated logout (:mod:`..logout`)."""
    provider = request.app[PROVIDER]
    settings = provider.settings
    params = await request_params(request)
    browser, new = _browser(request)
    confirm = params.get("confirm", [""])[0] if request.method == "POST" else ""
    if request.method == "POST" and params.get("cancel"):  # "Cancel" on the confirmation: nothing ends
        return page("logout_cancelled.html", look=look_of(request.app))
    result = await provider.logouts.logout(
        parse_logout_request(params), "" if new else browser, request.cookies.get(SESSION_COOKIE, ""), confirm
    )
    if isinstance(result, ConfirmLogout):
        from idgate.provider.logout import logout_csrf

        response = page(
            "logout_confirm.html",
            action=f"{settings.path}/logout",
            csrf=logout_csrf(browser),
            post_logout_redirect_uri=result.post_logout_redirect_uri,
            client_id=result.client_id,
            state=result.state,
            back=result.back,
            look=look_of(request.app),
        )
        return _with_browser(request, response, browser, new)
    if result.redirect_to is not None:
        done: web.StreamResponse = redirect(result.redirect_to, status=302)
    else:
        done = page("logged_out.html", look=look_of(request.app), back=result.back)
    done.del_cookie(SESSION_COOKIE, path=settings.path or "/")
    return done

"""The provider's HTTP routes: thin handlers that parse, call :class:`~.service.Provider`, render.

Every handler is wrapped by :func:`endpoint`, which hands any exception to the one renderer
(:func:`~.render.render_error`) with the kind of client that reads the answer.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from idgate.oauth2.requests import Params, parse_authorization_request, parse_bearer
from idgate.oidc.discovery import discovery_document
from idgate.provider.render import (
    NO_STORE,
    Surface,
    json_response,
    page,
    redirect,
    render_error,
)
from idgate.provider.service import ChooseConnector, LoginDone, LoginForm, Provider

PROVIDER = web.AppKey("provider", Provider)

#: Binds a pending login to the browser that started it (its SHA-256 is in the AuthRequest).
BROWSER_COOKIE = "idgate_browser"
_COOKIE_VALUE = re.compile(r"[A-Za-z0-9_\-]{43}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def endpoint(surface: Surface) -> Callable[[Handler], Handler]:
    """Route every error of the wrapped handler through the renderer for ``surface``."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except Exception as err:
                settings = request.app[PROVIDER].settings
                return render_error(err, surface, issuer=settings.issuer, display_name=settings.display_name)

        return wrapped

    return wrap


def _params(values: MultiMapping[Any]) -> Params:
    out: dict[str, list[str]] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


async def _request_params(request: web.Request) -> Params:
    """Query parameters for GET, form fields for POST."""
    if request.method == "POST":
        return _params(await request.post())
    return _params(request.query)


def _browser(request: web.Request) -> tuple[str, bool]:
    """This browser's binding secret, and whether it is new (then the response must set it)."""
    value = request.cookies.get(BROWSER_COOKIE, "")
    if _COOKIE_VALUE.fullmatch(value):
        return value, False
    return secrets.token_urlsafe(32), True


def _set_browser_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    provider = request.app[PROVIDER]
    secure = (
        provider.settings.issuer.startswith("https://")
        or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    )
    response.set_cookie(
        BROWSER_COOKIE,
        value,
        path=provider.settings.path or "/",
        httponly=True,
        secure=secure,
        samesite="Lax",
    )


@endpoint(Surface.BROWSER)
async def auth(request: web.Request) -> web.StreamResponse:
    """``/auth`` and ``/auth/{connector}``: validate, store the pending login, go to its form."""
    provider = request.app[PROVIDER]
    prefix = provider.settings.path
    params = await _request_params(request)
    browser, new = _browser(request)
    result = await provider.authorize(
        parse_authorization_request(params), request.match_info.get("connector"), browser
    )
    response: web.StreamResponse
    if isinstance(result, ChooseConnector):
        query = urlencode([(k, v) for k, vs in params.items() for v in vs])
        links = [(c.name, f"{prefix}/auth/{c.id}?{query}") for c in result.connectors]
        response = page("connectors.html", links=links, display_name=provider.settings.display_name)
    else:
        location = f"{prefix}/auth/{result.connector_id}/login?" + urlencode({"req": result.request_id})
        response = redirect(location, status=303)
    if new:
        _set_browser_cookie(request, response, browser)
    return response


def _login_page(request: web.Request, form: LoginForm) -> web.Response:
    provider = request.app[PROVIDER]
    return page(
        "login.html",
        action=f"{provider.settings.path}/auth/{form.connector.id}/login",
        request_id=form.request_id,
        prompt=form.connector.prompt,
        connector_name=form.connector.name,
        client_name=form.client_name,
        username=form.username,
        error=form.error,
        display_name=provider.settings.display_name,
    )


@endpoint(Surface.BROWSER)
async def login(request: web.Request) -> web.StreamResponse:
    """``/auth/{connector}/login``: GET shows the form, POST checks it."""
    provider = request.app[PROVIDER]
    connector_id = request.match_info["connector"]
    browser = request.cookies.get(BROWSER_COOKIE, "")
    if request.method == "GET":
        form = await provider.login_form(request.query.get("req", ""), connector_id, browser)
        return _login_page(request, form)
    data = await request.post()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    result = await provider.login(
        fields.get("req", ""),
        connector_id,
        browser,
        fields.get("login", ""),
        fields.get("password", ""),
    )
    if isinstance(result, LoginDone):
        return redirect(result.redirect_to, status=302)
    return _login_page(request, result)


@endpoint(Surface.TOKEN)
async def token(request: web.Request) -> web.StreamResponse:
    """``POST /token`` (RFC 6749 §3.2)."""
    provider = request.app[PROVIDER]
    params = _params(await request.post())
    doc = await provider.token(request.headers.get("Authorization"), params)
    return json_response(doc, no_store=True)


@endpoint(Surface.BEARER)
async def userinfo(request: web.Request) -> web.StreamResponse:
    """``GET|POST /userinfo`` with ``Authorization: Bearer``."""
    provider = request.app[PROVIDER]
    doc = await provider.userinfo(parse_bearer(request.headers.get("Authorization")))
    return json_response(doc, no_store=True)


@endpoint(Surface.TOKEN)
async def discovery(request: web.Request) -> web.StreamResponse:
    provider = request.app[PROVIDER]
    response = json_response(discovery_document(provider.settings.issuer))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@endpoint(Surface.TOKEN)
async def keys(request: web.Request) -> web.StreamResponse:
    provider = request.app[PROVIDER]
    response = json_response(await provider.jwks())
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok", headers=NO_STORE)


def add_routes(app: web.Application, prefix: str) -> None:
    """Dex's paths under the issuer path ``prefix`` (the edge forwards paths unchanged)."""
    app.router.add_get(f"{prefix}/.well-known/openid-configuration", discovery)
    app.router.add_get(f"{prefix}/keys", keys)
    app.router.add_route("GET", f"{prefix}/auth", auth)
    app.router.add_route("POST", f"{prefix}/auth", auth)
    app.router.add_route("GET", f"{prefix}/auth/{{connector}}", auth)
    app.router.add_route("POST", f"{prefix}/auth/{{connector}}", auth)
    app.router.add_route("GET", f"{prefix}/auth/{{connector}}/login", login)
    app.router.add_route("POST", f"{prefix}/auth/{{connector}}/login", login)
    app.router.add_post(f"{prefix}/token", token)
    app.router.add_route("GET", f"{prefix}/userinfo", userinfo)
    app.router.add_route("POST", f"{prefix}/userinfo", userinfo)
    app.router.add_get(f"{prefix}/healthz", healthz)

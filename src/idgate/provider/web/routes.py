"""The provider's back-channel routes, and what every handler shares: thin handlers that parse, call
the core (:class:`~idgate.provider.core.Provider`'s parts), render.

Every handler is wrapped by :func:`endpoint`, which hands any exception to the one renderer
(:func:`~.render.render_error`) with the kind of client that reads the answer. The browser pages are in
:mod:`.pages`; the route table is :func:`~.app.add_routes`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from idgate.oauth2 import response_types
from idgate.oauth2.requests import Params, parse_bearer
from idgate.oidc.discovery import discovery_document
from idgate.provider.answers import NO_STORE, Surface
from idgate.provider.core import Provider
from idgate.provider.web.render import json_response, render_error
from idgate.provider.web.theme import look_of

PROVIDER = web.AppKey("provider", Provider)

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
                return render_error(
                    err,
                    surface,
                    issuer=settings.issuer,
                    look=look_of(request.app),
                    request_id=request.headers.get("X-Request-Id", ""),
                )

        return wrapped

    return wrap


def params_of(values: MultiMapping[Any]) -> Params:
    out: dict[str, list[str]] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


async def request_params(request: web.Request) -> Params:
    """Query parameters for GET, form fields for POST."""
    if request.method == "POST":
        return params_of(await request.post())
    return params_of(request.query)


@endpoint(Surface.TOKEN)
async def token(request: web.Request) -> web.StreamResponse:
    """``POST /token`` and ``POST /device/token`` (RFC 6749 §3.2, RFC 8628 §3.4): the core's answer
    (:mod:`idgate.provider.token_endpoint`, as on the edge's lane), written out."""
    provider = request.app[PROVIDER]
    params = params_of(await request.post())
    headers = request.headers
    found = await provider.token_endpoint.answer(
        headers.get("Authorization"), params, headers.get("X-Request-Id", "")
    )
    return web.Response(
        body=found.body,
        status=found.status,
        content_type="application/json",
        charset="utf-8",
        headers={**NO_STORE, **dict(found.headers)},
    )


@endpoint(Surface.TOKEN)
async def device_code(request: web.Request) -> web.StreamResponse:
    """``POST /device/code`` (RFC 8628 §3.1)."""
    provider = request.app[PROVIDER]
    params = params_of(await request.post())
    doc = await provider.devices.device_authorization(request.headers.get("Authorization"), params)
    return json_response(doc, no_store=True)


@endpoint(Surface.TOKEN)
async def introspect(request: web.Request) -> web.StreamResponse:
    """``POST /token/introspect`` (RFC 7662)."""
    provider = request.app[PROVIDER]
    params = params_of(await request.post())
    doc = await provider.tokens.introspect(request.headers.get("Authorization"), params, provider.clock.now())
    return json_response(doc, no_store=True)


@endpoint(Surface.TOKEN)
async def revoke(request: web.Request) -> web.StreamResponse:
    """``POST /token/revoke`` (RFC 7009): 200 with an empty body, also for unknown tokens."""
    provider = request.app[PROVIDER]
    params = params_of(await request.post())
    await provider.tokens.revoke(request.headers.get("Authorization"), params, provider.clock.now())
    return web.Response(status=200, headers=NO_STORE)


@endpoint(Surface.BEARER)
async def userinfo(request: web.Request) -> web.StreamResponse:
    """``GET|POST /userinfo`` with ``Authorization: Bearer``."""
    provider = request.app[PROVIDER]
    bearer = parse_bearer(request.headers.get("Authorization"))
    doc = await provider.tokens.userinfo(bearer, provider.clock.now())
    return json_response(doc, no_store=True)


@endpoint(Surface.TOKEN)
async def discovery(request: web.Request) -> web.StreamResponse:
    provider = request.app[PROVIDER]
    settings = provider.settings
    doc = discovery_document(
        settings.issuer,
        signing_algorithm=settings.signing_algorithm,
        grant_types=list(provider.grants),
        response_types_supported=response_types.enabled(settings.response_types),
    )
    response = json_response(doc)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@endpoint(Surface.TOKEN)
async def keys(request: web.Request) -> web.StreamResponse:
    provider = request.app[PROVIDER]
    response = json_response((await provider.keys.current()).jwks)
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok", headers=NO_STORE)

"""Build the provider's aiohttp application from its settings, a storage and a clock, and its route table
(:func:`add_routes`: the back channel in :mod:`.routes`, the browser pages in :mod:`.pages`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from idgate.clock import Clock
from idgate.connectors.registry import build_connectors, close_connectors, prepare_connectors
from idgate.net import client_session
from idgate.provider.connectors import add_local_if_users, configured_connectors
from idgate.provider.core import Provider, collect_garbage, with_static
from idgate.provider.web import pages, routes, theme
from idgate.provider.web.routes import PROVIDER
from idgate.provider.web.theme import THEME, provider_look
from idgate.settings import ProviderSettings
from idgate.storage.base import Storage
from idgate.web.page_headers import hide_server_software

log = logging.getLogger("idgate.provider")

GC_INTERVAL = 300.0
MAX_BODY = 64 * 1024


async def _housekeeping(provider: Provider) -> None:
    while True:
        await asyncio.sleep(GC_INTERVAL)
        try:
            await collect_garbage(provider)
        except Exception:
            log.exception("garbage collection failed")


def build_provider_app(
    settings: ProviderSettings,
    storage: Storage,
    clock: Clock,
    *,
    http: aiohttp.ClientSession | None = None,
) -> web.Application:
    """The provider's web app. Routes are full paths under ``settings.path`` (e.g. ``/dex/token``).

    On start-up it loads (or, the first time, generates and stores) the signing keys, prepares the
    connectors (OIDC discovery; a failure is logged and retried on first use) and starts a background
    garbage collection of expired records. The caller owns ``storage`` and closes it; ``http`` (for
    connectors' upstream calls) is the caller's too when given, else the app opens and closes its own.
    Must be called with an event loop running.
    """
    own_http = http is None
    client = client_session() if http is None else http
    layered = with_static(storage, settings)
    built = build_connectors(settings.connectors, storage=layered, clock=clock, http=client)
    connectors = configured_connectors(settings, layered, built)
    provider = Provider(settings, layered, clock, connectors)
    app = web.Application(client_max_size=MAX_BODY)
    hide_server_software(app)
    app[PROVIDER] = provider
    app[THEME] = provider_look(settings)
    add_routes(app, settings.path)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await provider.keys.current()
        await add_local_if_users(provider.connectors, layered)
        for connector_id, reason in (await prepare_connectors(provider.connectors.values())).items():
            log.warning("connector %s not ready yet (retried on first use): %s", connector_id, reason)
        task = asyncio.create_task(_housekeeping(provider))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await close_connectors(provider.connectors.values())
        if own_http:
            await client.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def add_routes(app: web.Application, prefix: str) -> None:
    """Dex's paths under the issuer path ``prefix`` (the edge forwards paths unchanged)."""
    router = app.router
    router.add_get(f"{prefix}/.well-known/openid-configuration", routes.discovery)
    router.add_get(f"{prefix}/keys", routes.keys)
    for method in ("GET", "POST"):
        router.add_route(method, f"{prefix}/auth", pages.auth)
        router.add_route(method, f"{prefix}/auth/{{connector}}", pages.auth)
        router.add_route(method, f"{prefix}/auth/{{connector}}/login", pages.login)
        router.add_route(method, f"{prefix}/callback", pages.callback)
        router.add_route(method, f"{prefix}/approval", pages.approval)
        router.add_route(method, f"{prefix}/device", pages.device)
        router.add_route(method, f"{prefix}/logout", pages.logout)
        router.add_route(method, f"{prefix}/userinfo", routes.userinfo)
    router.add_post(f"{prefix}/auth/{{connector}}/totp", pages.second_factor)
    router.add_post(f"{prefix}/token", routes.token)
    router.add_post(f"{prefix}/token/introspect", routes.introspect)
    router.add_post(f"{prefix}/token/revoke", routes.revoke)
    router.add_post(f"{prefix}/device/code", routes.device_code)
    router.add_post(f"{prefix}/device/token", routes.token)
    router.add_get(f"{prefix}/healthz", routes.healthz)
    router.add_get(f"{prefix}/theme/{{name}}", theme.theme_file)

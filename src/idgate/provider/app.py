"""Build the provider's aiohttp application from its settings, a storage and a clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from idgate.clock import Clock
from idgate.connectors.local import LocalConnector
from idgate.provider.connectors import add_local_if_users, configured_connectors
from idgate.provider.routes import PROVIDER, add_routes
from idgate.provider.service import Provider
from idgate.settings import ProviderSettings
from idgate.storage.base import Storage
from idgate.storage.static import StaticStorage, client_from_settings, password_from_settings

log = logging.getLogger("idgate.provider")

GC_INTERVAL = 300.0
MAX_BODY = 64 * 1024


def with_static(storage: Storage, settings: ProviderSettings) -> StaticStorage:
    """``storage`` with the config's clients and static passwords laid over it (read-only)."""
    if isinstance(storage, StaticStorage):
        storage = storage.backend
    return StaticStorage(
        storage,
        clients=[client_from_settings(c) for c in settings.clients],
        passwords=[password_from_settings(p) for p in settings.static_passwords],
    )


async def collect_garbage(provider: Provider) -> None:
    """One round: expired records go (in one replica at a time), keys rotate when due."""
    removed = await provider.storage.garbage_collect(provider.clock.now())
    if removed.total:
        log.info("garbage collected", extra={"removed": removed.removed})
    await provider.keys.current()  # rotates when due, also on a quiet provider


async def _housekeeping(provider: Provider) -> None:
    while True:
        await asyncio.sleep(GC_INTERVAL)
        try:
            await collect_garbage(provider)
        except Exception:
            log.exception("garbage collection failed")


def build_provider_app(settings: ProviderSettings, storage: Storage, clock: Clock) -> web.Application:
    """The provider's web app. Routes are full paths under ``settings.path`` (e.g. ``/dex/token``).

    On start-up it loads (or, the first time, generates and stores) the signing keys and starts a
    background garbage collection of expired records. The caller owns ``storage`` and closes it.
    """
    layered = with_static(storage, settings)
    provider = Provider(settings, layered, clock, configured_connectors(settings, layered, clock))
    app = web.Application(client_max_size=MAX_BODY)
    app[PROVIDER] = provider
    add_routes(app, settings.path)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await provider.keys.current()
        await add_local_if_users(provider.connectors, layered)
        for connector in provider.connectors.values():
            if isinstance(connector, LocalConnector):
                await connector.prepare()
        task = asyncio.create_task(_housekeeping(provider))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(lifecycle)
    return app

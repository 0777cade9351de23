"""Build the provider's aiohttp application from its settings, a storage and a clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from idgate.clock import Clock
from idgate.connectors.base import PasswordConnector
from idgate.connectors.local import LocalConnector
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


def build_connectors(settings: ProviderSettings, storage: Storage) -> dict[str, PasswordConnector]:
    """The connectors the settings describe (for now: ``local`` when there are static passwords)."""
    connectors: dict[str, PasswordConnector] = {}
    if settings.static_passwords:
        local = LocalConnector(storage)
        connectors[local.id] = local
    return connectors


async def _collect_garbage(provider: Provider) -> None:
    while True:
        await asyncio.sleep(GC_INTERVAL)
        try:
            removed = await provider.storage.garbage_collect(provider.clock.now())
        except Exception:
            log.exception("garbage collection failed")
            continue
        if removed.total:
            log.info("garbage collected", extra={"removed": removed.removed})


def build_provider_app(settings: ProviderSettings, storage: Storage, clock: Clock) -> web.Application:
    """The provider's web app. Routes are full paths under ``settings.path`` (e.g. ``/dex/token``).

    On start-up it loads (or, the first time, generates and stores) the signing key and starts a
    background garbage collection of expired records. The caller owns ``storage`` and closes it.
    """
    layered = with_static(storage, settings)
    provider = Provider(settings, layered, clock, build_connectors(settings, layered))
    app = web.Application(client_max_size=MAX_BODY)
    app[PROVIDER] = provider
    add_routes(app, settings.path)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await provider.keys.current()
        for connector in provider.connectors.values():
            if isinstance(connector, LocalConnector):
                await connector.prepare()
        task = asyncio.create_task(_collect_garbage(provider))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(lifecycle)
    return app

"""A provider on a real HTTP server, on SQLite and on the real PostgreSQL (fails, never skips, when it is
down), with a frozen clock; ``make`` builds one with changed settings and extra connectors."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.unit.provider.support import SETTINGS, Provider

from idgate.clock import FrozenClock
from idgate.provider.web.app import build_provider_app
from idgate.provider.web.routes import PROVIDER
from idgate.settings import ProviderSettings
from idgate.storage import Storage, open_storage

ADMIN_URL = os.environ.get("IDGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

Make = Callable[..., Awaitable[Provider]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "sqlite":
        storage = await open_storage("sqlite:///:memory:")
        yield storage
        await storage.close()
        return
    name = f"idgate_test_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {ADMIN_URL} and is unreachable: {exc}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    storage = await open_storage(ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    try:
        yield storage
    finally:
        await storage.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def make(storage: Storage) -> AsyncIterator[Make]:
    clients: list[TestClient] = []  # type: ignore[type-arg]

    async def build(
        settings: ProviderSettings = SETTINGS, connectors: dict[str, Any] | None = None
    ) -> Provider:
        clock = FrozenClock()
        app = build_provider_app(settings, storage, clock)
        client = TestClient(TestServer(app))
        await client.start_server()
        if connectors:
            app[PROVIDER].connectors.update(connectors)
        clients.append(client)
        return Provider(client, clock, storage)

    yield build
    for client in clients:
        await client.close()


@pytest.fixture
async def provider(make: Make) -> Provider:
    return await make()

"""A provider app on a real HTTP server (aiohttp's TestServer), with SQLite in memory and a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.unit.provider.support import SETTINGS, Provider

from idgate.clock import FrozenClock
from idgate.provider.web.app import build_provider_app
from idgate.storage import Storage, open_storage


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    storage = await open_storage("sqlite:///:memory:")
    yield storage
    await storage.close()


@pytest.fixture
async def provider(storage: Storage) -> AsyncIterator[Provider]:
    clock = FrozenClock()
    app = build_provider_app(SETTINGS, storage, clock)
    async with TestClient(TestServer(app)) as client:
        yield Provider(client, clock, storage)

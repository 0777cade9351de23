"""The storage conformance suite on the real PostgreSQL at 127.0.0.1:5432.

Each test gets a throwaway database (created from the ``test`` database's server, dropped after). When
PostgreSQL is unreachable these tests fail: they never skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from tests.conformance.storage import StorageConformance

from idgate.storage import Storage, open_storage
from idgate.storage.base import Client

ADMIN_URL = os.environ.get("IDGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {ADMIN_URL} and is unreachable: {exc}")


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = f"idgate_test_{secrets.token_hex(6)}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class TestPostgres(StorageConformance):
    @pytest.fixture
    async def storage(self, database_url: str) -> AsyncIterator[Storage]:
        storage = await open_storage(database_url)
        yield storage
        await storage.close()


async def test_two_replicas_opening_at_once_both_migrate_cleanly(database_url: str) -> None:
    import asyncio

    one, two = await asyncio.gather(open_storage(database_url), open_storage(database_url))
    await one.create(Client(id="c", secret="s"))
    assert (await two.get(Client, "c")).secret == "s"
    await one.close()
    await two.close()


async def test_garbage_collection_runs_in_one_replica_at_a_time(database_url: str) -> None:
    from tests.conformance.storage import auth_request

    from idgate.storage.base import AuthRequest
    from idgate.storage.sql.postgres import GC_LOCK_ID

    storage = await open_storage(database_url)
    await storage.create(auth_request(expires_at=10.0))
    other = await asyncpg.connect(database_url.replace("postgresql://", "postgres://"))
    await other.execute("SELECT pg_advisory_lock($1)", GC_LOCK_ID)  # another replica is collecting
    try:
        assert (await storage.garbage_collect(50.0)).skipped
        assert len(await storage.list(AuthRequest)) == 1
    finally:
        await other.execute("SELECT pg_advisory_unlock($1)", GC_LOCK_ID)
        await other.close()
    assert (await storage.garbage_collect(50.0)).removed == {"auth_request": 1}
    await storage.close()


async def test_the_pool_size_comes_from_the_config(database_url: str) -> None:
    """``pool_size`` connections, and as many again under load."""
    from idgate.storage.sql.postgres import PostgresStorage

    storage = await open_storage(database_url, pool_size=3)
    assert isinstance(storage, PostgresStorage)
    assert storage.pool.get_max_size() == 6
    await storage.close()

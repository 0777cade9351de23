"""The storage conformance suite on the real PostgreSQL at 127.0.0.1:5432.

Each test gets a throwaway database (created from the ``test`` database's server, dropped after). When
PostgreSQL is unreachable these tests fail: they never skip.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
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


async def test_a_record_stored_by_an_earlier_release_is_updated_against_what_was_read(
    database_url: str,
) -> None:
    """A refresh family written before (``json.dumps``: non-ASCII escaped) is read, then updated against
    that read, whether the text it was read from is still at hand or not."""
    import dataclasses
    import json

    from tests.conformance.storage import refresh_token

    from idgate.storage.base import Claims, RefreshToken

    storage = await open_storage(database_url)
    raw = await asyncpg.connect(database_url)
    for id in ("a", "b"):
        family = dataclasses.replace(refresh_token(id), claims=Claims("u", "José", "j@x", True))
        earlier = json.dumps(dataclasses.asdict(family), separators=(",", ":"), sort_keys=True)
        await raw.execute(
            "INSERT INTO refresh_tokens (id, version, expires_at, data, owner, session_id) "
            "VALUES ($1, 1, $2, $3, $4, $5)",
            family.id,
            family.expires_at,
            earlier,
            family.owner,
            family.session_id,
        )
    await raw.close()
    touch = lambda f: dataclasses.replace(f, last_used_at=f.last_used_at + 1)  # noqa: E731
    seen_a = await storage.get(RefreshToken, "a")
    assert seen_a.claims.username == "José"
    assert (
        await storage.update(RefreshToken, "a", touch, seen=seen_a)
    ).last_used_at == seen_a.last_used_at + 1
    seen_b = await storage.get(RefreshToken, "b")
    await storage.get(RefreshToken, "a")  # the text "b" was read from is no longer the last one read
    assert (
        await storage.update(RefreshToken, "b", touch, seen=seen_b)
    ).last_used_at == seen_b.last_used_at + 1
    for id, seen in (("a", seen_a), ("b", seen_b)):
        assert await storage.get(RefreshToken, id) == touch(seen)
    await storage.close()


async def test_a_current_database_opens_without_sqlalchemy_or_alembic(database_url: str) -> None:
    """Only a database behind the newest schema loads them (to migrate it); a serving process reads and
    writes through asyncpg alone."""
    import subprocess
    import sys

    script = (
        "import asyncio, sys\n"
        "from idgate.storage import open_storage\n"
        "async def main():\n"
        "    storage = await open_storage(sys.argv[1])\n"
        "    await storage.close()\n"
        "asyncio.run(main())\n"
        "print(','.join(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules)))\n"
    )

    def loaded() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, database_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert loaded() == "alembic,sqlalchemy"  # an empty database: its schema is created by Alembic
    assert loaded() == ""  # every later start


async def test_connections_the_server_ended_are_replaced_without_a_failed_operation(
    database_url: str,
) -> None:
    """As after a restart of PostgreSQL: every connection of the pool ended by the server. The next read
    right away, and a write once the loop has seen the connections go, both succeed."""
    import asyncio

    storage = await open_storage(database_url, pool_size=2)
    await asyncio.gather(*(storage.create(Client(id=f"c{i}", secret="s")) for i in range(4)))
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            database_url.rsplit("/", 1)[1],
        )
    finally:
        await admin.close()
    assert ended >= 1
    assert (await storage.get(Client, "c0")).secret == "s"
    await asyncio.sleep(0.2)
    await storage.create(Client(id="after", secret="s"))
    assert len(await storage.list(Client)) == 5
    await storage.close()


_OPEN = """
import asyncio, sys
from idgate.storage import open_storage

async def main() -> None:
    storage = await open_storage(sys.argv[1])
    await storage.close()
    print("alembic" in sys.modules)

asyncio.run(main())
"""


async def test_a_current_database_opens_without_alembic(database_url: str) -> None:
    def opened_with_alembic() -> bool:
        done = subprocess.run(
            [sys.executable, "-c", _OPEN, database_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return {"True": True, "False": False}[done.stdout.strip()]

    assert opened_with_alembic()  # an empty database: Alembic creates the schema
    assert not opened_with_alembic()  # every later start: the revision is read, Alembic stays out

"""The storage conformance suite on SQLite: in memory, and in a file (two openings share it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.conformance.storage import StorageConformance

from idgate.storage import Storage, open_storage
from idgate.storage.base import Client


class TestSqliteMemory(StorageConformance):
    @pytest.fixture
    async def storage(self) -> AsyncIterator[Storage]:
        storage = await open_storage("sqlite:///:memory:")
        yield storage
        await storage.close()


class TestSqliteFile(StorageConformance):
    @pytest.fixture
    async def storage(self, tmp_path: Path) -> AsyncIterator[Storage]:
        storage = await open_storage(f"sqlite:///{tmp_path}/idgate.db")
        yield storage
        await storage.close()


async def test_open_creates_the_parent_directory_and_reopens_with_data_kept(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/a/b/idgate.db"
    first = await open_storage(url)
    await first.create(Client(id="c", secret="s"))
    await first.close()
    again = await open_storage(url)  # migrations are idempotent
    assert (await again.get(Client, "c")).secret == "s"
    await again.close()
    assert (tmp_path / "a" / "b" / "idgate.db").exists()


async def test_relative_sqlite_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = await open_storage("sqlite:///data/idgate.db")
    await storage.close()
    assert (tmp_path / "data" / "idgate.db").exists()


async def test_two_openings_of_one_file_see_each_others_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    one, two = await open_storage(url), await open_storage(url)
    await one.create(Client(id="c", secret="s"))
    assert (await two.get(Client, "c")).secret == "s"
    await one.close()
    await two.close()


async def test_processes_opening_a_fresh_file_at_once_migrate_one_after_the_other(
    tmp_path: Path,
) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path}/fresh.db"
    opened = await asyncio.gather(*(open_storage(url) for _ in range(4)))
    await opened[0].create(Client(id="c", secret="s"))
    for storage in opened:
        assert (await storage.get(Client, "c")).secret == "s"
        await storage.close()


async def test_garbage_collection_runs_in_one_process_at_a_time(tmp_path: Path) -> None:
    import fcntl
    import os

    from tests.conformance.storage import auth_request

    from idgate.storage.base import AuthRequest

    storage = await open_storage(f"sqlite:///{tmp_path}/gc.db")
    await storage.create(auth_request(expires_at=10.0))
    fd = os.open(f"{tmp_path}/gc.db.gc.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process is collecting
    try:
        assert (await storage.garbage_collect(50.0)).skipped
        assert len(await storage.list(AuthRequest)) == 1
    finally:
        os.close(fd)
    assert (await storage.garbage_collect(50.0)).removed == {"auth_request": 1}
    await storage.close()


async def test_a_database_of_the_first_schema_upgrades_with_its_data(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine
    from tests.conformance.storage import access_token

    from idgate.storage.base import AccessToken
    from idgate.storage.sql.migrate import _config

    url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(_config(c), "0001"))
        from idgate.storage.codec import encode

        token = access_token()
        await conn.execute(
            sa.text("INSERT INTO access_tokens (id, version, expires_at, data) VALUES (:i, 1, :e, :d)"),
            {"i": token.id, "e": token.expires_at, "d": encode(token)},
        )
    await engine.dispose()
    storage = await open_storage(f"sqlite:///{tmp_path}/old.db")
    assert await storage.get(AccessToken, token.id) == token
    assert await storage.find(AccessToken, grant_id="") == [token]
    await storage.close()


_COUNT_SCRIPT = """
import asyncio, dataclasses, sys
from idgate.storage import open_storage
from idgate.storage.base import LoginFailures

async def main() -> None:
    storage = await open_storage(sys.argv[1])
    for _ in range(int(sys.argv[2])):
        await storage.update(LoginFailures, "k", lambda r: dataclasses.replace(r, failures=r.failures + 1))
    await storage.close()

asyncio.run(main())
"""


async def test_processes_updating_one_record_at_once_lose_no_update(tmp_path: Path) -> None:
    """Workers share the file: each one's loop connection pauses and tries again when the other holds the
    write lock, and every increment lands exactly once."""
    import asyncio
    import sys

    from idgate.storage.base import LoginFailures

    url = f"sqlite:///{tmp_path}/shared.db"
    storage = await open_storage(url)
    await storage.create(LoginFailures(id="k", failures=0, first_at=0.0, expires_at=None))
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", _COUNT_SCRIPT, url, "300")
        for _ in range(3)
    ]
    assert [await p.wait() for p in procs] == [0, 0, 0]
    assert (await storage.get(LoginFailures, "k")).failures == 900
    await storage.close()


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_event_loop(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock: the write waits (short pauses on the loop, never a
    blocking wait), the loop keeps running, and the write lands once the lock is released."""
    import asyncio
    import sqlite3
    import threading

    url = f"sqlite:///{tmp_path}/held.db"
    storage = await open_storage(url)
    other = sqlite3.connect(f"{tmp_path}/held.db", check_same_thread=False, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, other.execute, ("COMMIT",))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick = asyncio.create_task(ticker())
    release.start()
    await storage.create(Client(id="c", secret="s"))
    tick.cancel()
    release.join()
    other.close()
    assert ticks >= 20  # ~50 while the write waited: the loop was never blocked
    assert (await storage.get(Client, "c")).secret == "s"
    await storage.close()


async def test_an_operation_waiting_in_the_worker_does_not_hold_back_the_next_ones(tmp_path: Path) -> None:
    """The worker thread is busy (a WAL checkpoint, a garbage collection): operations that find the file
    free still run on the loop's connection at once, not queued behind it."""
    import asyncio
    import threading

    from idgate.storage.sql.sqlite import SqliteStorage

    storage = await open_storage(f"sqlite:///{tmp_path}/busy.db")
    assert isinstance(storage, SqliteStorage)
    await storage.create(Client(id="warm", secret="s"))
    release = threading.Event()
    blocked = asyncio.create_task(storage._in_worker(lambda _conn: release.wait(10)))
    await asyncio.sleep(0.05)  # the worker now waits on the event
    try:
        for i in range(20):  # while the worker is taken: each would hang if it were queued there
            await asyncio.wait_for(storage.create(Client(id=f"c{i}", secret="s")), timeout=5)
        assert len(await storage.list(Client)) == 21
        assert not blocked.done()
    finally:
        release.set()
        await blocked
        await storage.close()


async def test_the_wal_is_copied_back_after_a_number_of_writes_not_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints follow the writes (what grows the WAL); reads, however many, do not cause one."""
    import sqlite3

    from idgate.storage.sql import sqlite as backend

    monkeypatch.setattr(backend, "CHECKPOINT_EVERY", 4)
    path = tmp_path / "idgate.db"
    storage = await open_storage(f"sqlite:///{path}")

    def in_database_file() -> int:  # the rows the main file holds, the WAL ignored
        conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return int(conn.execute('SELECT count(*) FROM "clients"').fetchone()[0])
        finally:
            conn.close()

    try:
        for n in range(3):
            await storage.create(Client(id=f"c{n}", secret="s"))
        for _ in range(20):
            await storage.get(Client, "c0")
        await asyncio.sleep(0.2)
        assert in_database_file() == 0  # three writes: still only in the WAL
        await storage.create(Client(id="c3", secret="s"))  # the fourth write
        for _ in range(50):
            if in_database_file() == 4:
                break
            await asyncio.sleep(0.05)
        assert in_database_file() == 4
    finally:
        await storage.close()


async def test_a_record_stored_by_an_earlier_release_is_updated_against_what_was_read(tmp_path: Path) -> None:
    """A refresh family written before (``json.dumps``: non-ASCII escaped) is read, then updated against
    that read, whether the text it was read from is still at hand or not."""
    import dataclasses
    import json
    import sqlite3

    from tests.conformance.storage import refresh_token

    from idgate.storage.base import Claims, RefreshToken

    storage = await open_storage(f"sqlite:///{tmp_path}/old.db")
    rows = []
    for id in ("a", "b"):
        family = dataclasses.replace(refresh_token(id), claims=Claims("u", "José", "j@x", True))
        earlier = json.dumps(dataclasses.asdict(family), separators=(",", ":"), sort_keys=True)
        rows.append((family.id, family.expires_at, earlier, family.owner, family.session_id))
    raw = sqlite3.connect(f"{tmp_path}/old.db", isolation_level=None)
    raw.executemany(
        "INSERT INTO refresh_tokens (id, version, expires_at, data, owner, session_id) "
        "VALUES (?, 1, ?, ?, ?, ?)",
        rows,
    )
    raw.close()
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


async def test_a_file_another_process_holds_whole_is_waited_for_from_the_first_operation(
    tmp_path: Path,
) -> None:
    """The loop's connection is opened at the first operation: when another process holds the whole file
    at that moment (as the last connection to close it does, while it checkpoints and removes the WAL),
    the opening is tried again like any busy operation, not refused."""
    import sqlite3
    import threading

    url = f"sqlite:///{tmp_path}/held.db"
    await (await open_storage(url)).close()  # the schema exists; no connection is open
    storage = await open_storage(url)
    other = sqlite3.connect(f"{tmp_path}/held.db", check_same_thread=False, isolation_level=None)
    other.execute("PRAGMA locking_mode = EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("COMMIT")  # the exclusive lock stays until the connection closes
    release = threading.Timer(0.3, other.close)
    release.start()
    try:
        await storage.create(Client(id="c", secret="s"))
    finally:
        release.join()
    assert (await storage.get(Client, "c")).secret == "s"
    await storage.close()

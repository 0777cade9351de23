"""The SQLite backend, on :mod:`sqlite3` alone: no SQLAlchemy or Alembic in a running process.

Each operation is one function of :mod:`.sqlite_operations`, run on the event loop's own connection
(tens of µs, no thread hop). That connection never waits for a lock: when the file is busy -- another
connection holds the write lock, another process of this host -- the operation fails at once, having
written nothing, and is tried again on the loop after a short pause (:data:`BUSY_PAUSES`, then
:data:`BUSY_PAUSES`' last, jittered, for up to :data:`BUSY_TIMEOUT`), while the loop serves others.

Not in a thread with SQLite's own busy handler, as before: that handler sleeps up to 100 ms between
tries while the other process's loop, which never sleeps, takes the lock in each gap, and every
operation that found the file busy waited behind it in the one worker thread. That was the 966 ms
two-worker p99 of ``bench/RESULTS.md`` (2026-12-06, point 5): ``bench/grants_ab.py --processes 2`` (two
processes saturating one file) measured waits in that thread of 0.4-2.5 s and grants of up to 2 s. With
the pauses on the loop the slowest operations of such runs made 4-10 tries (~10 ms of pauses) and the
rest of their 0.1-0.25 s was their turn on a loop saturated by 32 grants at once.

One worker thread remains, with a connection that does wait (its busy timeout): it checkpoints the WAL
every :data:`CHECKPOINT_EVERY` writes, which the loop's connection never does, runs garbage collection
(a sweep may hold the write lock a while), and runs operations called from another thread than the loop's.

``:memory:`` is one connection on the loop (nothing else can hold its lock), for tests and the demo.

Opening a file checks its schema revision with ``sqlite3``; only a file that is behind loads Alembic
(:func:`open_sqlite`), under an ``flock`` so processes starting together migrate one at a time. Garbage
collection runs in one process at a time (an ``flock`` next to the file).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import os
import random
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from idgate.errors import AlreadyExists, Conflict, NotFound, StorageError
from idgate.progress import step
from idgate.storage.base import GarbageCollected, R, Record, check_indexed
from idgate.storage.codec import decode
from idgate.storage.sql import sqlite_operations
from idgate.storage.sql.names import SCHEMA_HEAD
from idgate.storage.sql.timing import timed

UPDATE_ATTEMPTS = 30
#: Writes on the loop's connection between WAL checkpoints. A checkpoint copies each page written since
#: the last one once, however often it was written: measured here with a code exchange's inserts, 85 writes
#: apart cost 213 µs per write, 512 apart 177 µs (a WAL of up to ~25 MB; SQLite's own default is ~80).
CHECKPOINT_EVERY = 512
#: The operations of :mod:`.sqlite_operations` that write (and so grow the WAL).
_WRITES = frozenset(
    {
        sqlite_operations.create,
        sqlite_operations.update,
        sqlite_operations.delete,
        sqlite_operations.execute_count,
        sqlite_operations.collect,
        sqlite_operations.revoke_session,
    }
)
MEMORY = ":memory:"
#: A busy file is tried again on the loop after these pauses (s), then after the last one (jittered) until
#: :data:`BUSY_TIMEOUT`: another process's transaction holds the lock for tens to hundreds of µs.
BUSY_PAUSES = (0.0, 0.0002, 0.0005, 0.001, 0.002)
#: How long (s) an operation tries a busy file before it fails (``Conflict``), as the worker's busy timeout.
BUSY_TIMEOUT = 10.0


@contextlib.contextmanager
def _errors(kind: str) -> Iterator[None]:
    """sqlite3's exceptions as :mod:`idgate.errors`."""
    try:
        yield
    except sqlite_operations.Missing:
        raise NotFound(f"{kind} not found") from None
    except sqlite_operations.Changed:
        raise Conflict("concurrent update") from None
    except sqlite3.IntegrityError as exc:
        raise AlreadyExists(str(exc)) from None
    except sqlite3.OperationalError as exc:
        if sqlite_operations.busy(exc):
            raise Conflict("concurrent transaction") from exc
        raise StorageError(f"storage failed: {type(exc).__name__}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"storage failed: {type(exc).__name__}") from exc
    except OSError as exc:
        raise StorageError(f"storage unreachable: {exc.strerror or exc}") from exc


class SqliteStorage:
    """:class:`~idgate.storage.base.Storage` on one SQLite file (or ``:memory:``)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._memory = path == MEMORY
        self._direct: sqlite3.Connection | None = None
        self._loop_thread: int | None = None  # the loop's thread, which alone uses ``_direct``
        self._worker: ThreadPoolExecutor | None = None
        self._worker_conn: sqlite3.Connection | None = None
        self._writes = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._gc_lock_file = None if self._memory else Path(path + ".gc.lock")

    # -- where an operation runs ------------------------------------------------------------------

    def _loop_connection(self) -> sqlite3.Connection | None:
        if self._direct is None:
            if self._memory:
                self._direct = sqlite3.connect(MEMORY, check_same_thread=False)
            else:
                self._direct = sqlite_operations.open_direct(self._path)
            self._loop_thread = threading.get_ident()
        if not self._memory and self._loop_thread != threading.get_ident():
            return None  # used from another thread (a CLI helper, a test): take the worker
        return self._direct

    async def _run(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(connection, *args)`` on the loop's connection (opened on first use), tried again while
        the file is busy; in the worker thread when called from another thread."""
        tries = 0
        deadline = 0.0
        while True:
            with _errors(kind):
                try:
                    direct = self._loop_connection()  # its opening may find the file busy too
                    if direct is None:
                        return await self._in_worker(fn, *args)
                    result = fn(direct, *args)
                except sqlite3.OperationalError as exc:
                    if self._memory or not sqlite_operations.busy(exc):
                        raise
                    loop = asyncio.get_running_loop()
                    deadline = deadline or loop.time() + BUSY_TIMEOUT
                    if loop.time() >= deadline:
                        raise
                else:
                    if fn in _WRITES:
                        self._count_write()
                    return result
            pause = BUSY_PAUSES[min(tries, len(BUSY_PAUSES) - 1)]
            if tries >= len(BUSY_PAUSES):
                pause *= random.uniform(0.5, 1.5)  # noqa: S311 - two processes out of step, not a secret
            tries += 1
            await asyncio.sleep(pause)

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="idgate-sqlite")
        return await asyncio.get_running_loop().run_in_executor(self._worker, self._call, fn, args)

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """In the worker thread: its connection, opened there on first use."""
        if self._worker_conn is None:
            self._worker_conn = sqlite_operations.open_worker(self._path)
        return fn(self._worker_conn, *args)

    def _count_write(self) -> None:
        self._writes += 1
        if not self._memory and self._writes % CHECKPOINT_EVERY == 0 and self._checkpoint is None:
            self._checkpoint = asyncio.get_running_loop().create_task(self._run_checkpoint())

    async def _run_checkpoint(self) -> None:
        try:
            await self._in_worker(sqlite_operations.checkpoint)
        except sqlite3.Error:
            pass  # the next one tries again; the WAL only grows meanwhile
        finally:
            self._checkpoint = None

    # -- the Storage protocol ---------------------------------------------------------------------

    @timed("create")
    async def create(self, *records: Record) -> None:
        if records:
            await self._run(records[0].KIND, sqlite_operations.create, records)

    @timed("get")
    async def get(self, kind: type[R], id: str) -> R:
        data = await self._run(kind.KIND, sqlite_operations.get, kind, id)
        if data is None:
            raise NotFound(f"{kind.KIND} not found")
        return decode(kind, data)

    @timed("list")
    async def list(self, kind: type[R]) -> builtins.list[R]:
        texts = await self._run(
            kind.KIND, sqlite_operations.select_all, sqlite_operations.statements(kind).list, ()
        )
        return [decode(kind, t) for t in texts]

    @timed("update")
    async def update(
        self,
        kind: type[R],
        id: str,
        fn: Callable[[R], R],
        *,
        create: Sequence[Record] = (),
        seen: R | None = None,
    ) -> R:
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                new: R = await self._run(kind.KIND, sqlite_operations.update, kind, id, fn, create, seen)
                return new
            except Conflict:
                seen = None  # read it again
                jitter = random.uniform(0.001, 0.004)  # noqa: S311 - a pause, not a secret
                await asyncio.sleep(jitter * min(attempt + 1, 10))
        raise Conflict(f"{kind.KIND}: too many concurrent updates")

    @timed("delete")
    async def delete(self, kind: type[R], id: str) -> None:
        if await self._run(kind.KIND, sqlite_operations.delete, kind, id) != 1:
            raise NotFound(f"{kind.KIND} not found")

    @timed("find")
    async def find(self, kind: type[R], **equals: str) -> builtins.list[R]:
        check_indexed(kind, equals)
        sql = sqlite_operations.where_sql(kind, "select", tuple(equals))
        texts = await self._run(kind.KIND, sqlite_operations.select_all, sql, tuple(equals.values()))
        return [decode(kind, t) for t in texts]

    @timed("delete_where")
    async def delete_where(self, kind: type[R], **equals: str) -> int:
        check_indexed(kind, equals)
        sql = sqlite_operations.where_sql(kind, "delete", tuple(equals))
        count: int = await self._run(kind.KIND, sqlite_operations.execute_count, sql, tuple(equals.values()))
        return count

    @timed("garbage_collect")
    async def garbage_collect(self, now: float) -> GarbageCollected:
        if self._gc_lock_file is None:
            return GarbageCollected(await self._run("gc", sqlite_operations.collect, now))
        fd = os.open(self._gc_lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return GarbageCollected(skipped=True)
            # a whole sweep may hold the write lock for a while: in the worker, never on the loop
            with _errors("gc"):
                removed: dict[str, int] = await self._in_worker(sqlite_operations.collect, now)
            return GarbageCollected(removed)
        finally:
            os.close(fd)  # releases the lock

    @timed("revoke_session")
    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None:
        await self._run("revoked_session", sqlite_operations.revoke_session, id, revoked_at, expires_at)

    @timed("revoked_sessions")
    async def revoked_sessions(self, since: float, now: float) -> builtins.list[tuple[str, float]]:
        found: builtins.list[tuple[str, float]] = await self._run(
            "revoked_session", sqlite_operations.revoked_sessions, since, now
        )
        return found

    async def close(self) -> None:
        if self._checkpoint is not None:
            await self._checkpoint
        if self._worker is not None:
            if self._worker_conn is not None:
                await asyncio.get_running_loop().run_in_executor(self._worker, self._worker_conn.close)
                self._worker_conn = None
            self._worker.shutdown(wait=True)
            self._worker = None
        if self._direct is not None:
            self._direct.close()
            self._direct = None


async def open_sqlite(path: str) -> SqliteStorage:
    """Open (creating its directory and schema, or migrating it, when needed) a SQLite storage."""
    if path == MEMORY:
        storage = SqliteStorage(MEMORY)
        connection = storage._loop_connection()
        assert connection is not None
        _migrate(connection)
        return storage
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if sqlite_operations.schema_revision(path) != SCHEMA_HEAD:
        await asyncio.to_thread(_migrate_file, path)
    return SqliteStorage(path)


async def migrate_apart(path: str) -> None:
    """Bring a SQLite file to :data:`SCHEMA_HEAD` in a short-lived child process, so that a serving
    process never loads SQLAlchemy and Alembic (~30 MB it would keep for its whole life). Nothing to do
    (and no child) when the file is current; :class:`StorageError` with the child's last words when it
    fails."""
    if path == MEMORY:
        return
    current = sqlite_operations.schema_revision(path)
    if current == SCHEMA_HEAD:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    what = (
        f"Migrating storage from {current} to {SCHEMA_HEAD}"
        if current
        else f"Creating the storage schema ({SCHEMA_HEAD})"
    )
    with step(what):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "idgate.storage.sql.sqlite",
            path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await child.communicate()
        if child.returncode != 0:
            last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise StorageError(f"cannot migrate storage: {last[0]}")


def _migrate_file(path: str) -> None:
    """Bring the file to :data:`SCHEMA_HEAD`, one process at a time (an ``flock`` next to it)."""
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        conn = sqlite_operations.open_worker(path)
        try:
            _migrate(conn)
        finally:
            conn.close()
    finally:
        os.close(fd)


def _migrate(connection: sqlite3.Connection) -> None:
    """Run Alembic on ``connection`` (loaded only here: a current file never needs it)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    from idgate.storage.sql.migrate import upgrade_connection

    engine = create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)
    try:
        with engine.begin() as conn:
            upgrade_connection(conn)
    finally:
        engine.dispose(close=False)  # the connection is the caller's


if __name__ == "__main__":  # migrate_apart's child: python -m idgate.storage.sql.sqlite PATH
    _migrate_file(sys.argv[1])

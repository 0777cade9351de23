"""The SQL backend: SQLAlchemy Core (async) over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Foreign exceptions are translated here, at one boundary, into :mod:`idgate.errors`.

Concurrency: :meth:`SqlStorage.update` is an optimistic compare-and-swap on the row's ``version``. Under
PostgreSQL's READ COMMITTED, a second writer's ``UPDATE ... WHERE version = v`` waits for the first,
then matches no row and runs ``fn`` again on the new state; SQLite serialises writers with its file lock
(busy timeout, and one in-process lock so one process never contends with itself). A round that loses
(or a serialization failure / deadlock the database reports) is retried with a growing, jittered pause;
only after :data:`UPDATE_ATTEMPTS` rounds does the caller see :class:`~idgate.errors.Conflict`.

Garbage collection runs in one replica at a time: PostgreSQL's transaction-scoped advisory lock
(``pg_try_advisory_xact_lock``), or an ``flock`` next to the SQLite file; a replica that does not get the
lock returns at once.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import fcntl
import os
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from idgate.errors import AlreadyExists, Conflict, NotFound, StorageError
from idgate.storage.base import GarbageCollected, R, Record, check_indexed, indexes
from idgate.storage.codec import decode, encode
from idgate.storage.sql import sqlite_fast
from idgate.storage.sql.schema import TABLES

UPDATE_ATTEMPTS = 30
GC_LOCK_ID = 0x1D6A7F  # pg_advisory lock key for "idgate garbage collection"
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if code in _RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig) or "database table is locked" in str(exc.orig)


class SqlStorage:
    """:class:`~idgate.storage.base.Storage` on an :class:`~sqlalchemy.ext.asyncio.AsyncEngine`."""

    def __init__(self, engine: AsyncEngine, gc_lock_file: Path | None = None) -> None:
        self._engine = engine
        self._gc_lock_file = gc_lock_file
        # SQLite: one writer at a time per process (an in-memory database is a single connection).
        self._lock: asyncio.Lock | None = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        # SQLite: one connection kept checked out, whose worker thread runs each operation in one call
        # (:mod:`.sqlite_fast`); PostgreSQL goes through SQLAlchemy.
        self._pinned: AsyncConnection | None = None
        self._driver: Any = None  # the pinned connection's aiosqlite.Connection

    async def _sqlite(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(sqlite3_connection, *args)`` in the pinned connection's thread, under the lock."""
        assert self._lock is not None
        async with self._lock:
            try:
                if self._driver is None:
                    self._pinned = await self._engine.connect()
                    self._driver = (await self._pinned.get_raw_connection()).driver_connection
                driver = self._driver
                return await driver._execute(fn, driver._conn, *args)  # one hop per operation
            except sqlite_fast.Missing:
                raise NotFound(f"{kind} not found") from None
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(str(exc)) from None
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    raise Conflict("concurrent transaction") from exc
                raise StorageError(f"storage failed: {type(exc).__name__}") from exc
            except sqlite3.Error as exc:
                raise StorageError(f"storage failed: {type(exc).__name__}") from exc
            except SQLAlchemyError as exc:
                raise StorageError(f"storage failed: {type(exc).__name__}") from exc
            except OSError as exc:
                raise StorageError(f"storage unreachable: {exc.strerror or exc}") from exc

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            if self._lock is None:
                async with self._engine.begin() as conn:
                    yield conn
            else:
                async with self._lock, self._engine.begin() as conn:
                    yield conn
        except IntegrityError as exc:
            raise AlreadyExists(str(exc.orig)) from None
        except DBAPIError as exc:
            if _retryable(exc):
                raise Conflict("concurrent transaction") from exc
            raise StorageError(f"storage failed: {type(exc.orig).__name__}") from exc
        except SQLAlchemyError as exc:
            raise StorageError(f"storage failed: {type(exc).__name__}") from exc
        except OSError as exc:
            raise StorageError(f"storage unreachable: {exc.strerror or exc}") from exc

    async def create(self, record: Record) -> None:
        if self._lock is not None:
            await self._sqlite(record.KIND, sqlite_fast.create, record)
            return
        table = TABLES[type(record)]
        async with self._tx() as conn:
            await conn.execute(
                insert(table).values(
                    id=record.id,
                    version=1,
                    expires_at=record.expires_at,
                    data=encode(record),
                    **_lookups(record),
                )
            )

    async def get(self, kind: type[R], id: str) -> R:
        if self._lock is not None:
            data = await self._sqlite(kind.KIND, sqlite_fast.get, kind, id)
            if data is None:
                raise NotFound(f"{kind.KIND} not found")
            return decode(kind, data)
        table = TABLES[kind]
        async with self._tx() as conn:
            row = (await conn.execute(select(table.c.data).where(table.c.id == id))).first()
        if row is None:
            raise NotFound(f"{kind.KIND} not found")
        return decode(kind, row.data)

    async def list(self, kind: type[R]) -> list[R]:
        if self._lock is not None:
            sql = sqlite_fast.statements(kind).list
            texts = await self._sqlite(kind.KIND, sqlite_fast.select_all, sql, ())
            return [decode(kind, t) for t in texts]
        table = TABLES[kind]
        async with self._tx() as conn:
            rows = (await conn.execute(select(table.c.data).order_by(table.c.id))).all()
        return [decode(kind, row.data) for row in rows]

    async def update(self, kind: type[R], id: str, fn: Callable[[R], R]) -> R:
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                written = await self._update_once(kind, id, fn)
            except Conflict:
                written = None
            if written is not None:
                return written
            jitter = random.uniform(0.001, 0.004)  # noqa: S311 - a pause, not a secret
            await asyncio.sleep(jitter * min(attempt + 1, 10))
        raise Conflict(f"{kind.KIND}: too many concurrent updates")

    async def _update_once(self, kind: type[R], id: str, fn: Callable[[R], R]) -> R | None:
        if self._lock is not None:
            new: R = await self._sqlite(kind.KIND, sqlite_fast.update, kind, id, fn)
            return new
        table = TABLES[kind]
        async with self._tx() as conn:
            row = (await conn.execute(select(table.c.version, table.c.data).where(table.c.id == id))).first()
            if row is None:
                raise NotFound(f"{kind.KIND} not found")
            new = fn(decode(kind, row.data))
            if new.id != id or type(new) is not kind:
                raise ValueError("an update function must return a record of the same kind and id")
            result = await conn.execute(
                update(table)
                .where(table.c.id == id, table.c.version == row.version)
                .values(
                    version=row.version + 1,
                    expires_at=new.expires_at,
                    data=encode(new),
                    **_lookups(new),
                )
            )
            rowcount: Any = getattr(result, "rowcount", 0)
            return new if rowcount == 1 else None

    async def delete(self, kind: type[R], id: str) -> None:
        if self._lock is not None:
            if await self._sqlite(kind.KIND, sqlite_fast.delete, kind, id) != 1:
                raise NotFound(f"{kind.KIND} not found")
            return
        table = TABLES[kind]
        async with self._tx() as conn:
            result = await conn.execute(delete(table).where(table.c.id == id))
            if getattr(result, "rowcount", 0) != 1:
                raise NotFound(f"{kind.KIND} not found")

    async def find(self, kind: type[R], **equals: str) -> builtins.list[R]:
        check_indexed(kind, equals)
        if self._lock is not None:
            sql = sqlite_fast.where_sql(kind, "select", tuple(equals))
            texts = await self._sqlite(kind.KIND, sqlite_fast.select_all, sql, tuple(equals.values()))
            return [decode(kind, t) for t in texts]
        table = TABLES[kind]
        where = [table.c[name] == value for name, value in equals.items()]
        async with self._tx() as conn:
            rows = (await conn.execute(select(table.c.data).where(*where).order_by(table.c.id))).all()
        return [decode(kind, row.data) for row in rows]

    async def delete_where(self, kind: type[R], **equals: str) -> int:
        check_indexed(kind, equals)
        if self._lock is not None:
            sql = sqlite_fast.where_sql(kind, "delete", tuple(equals))
            count: int = await self._sqlite(kind.KIND, sqlite_fast.execute_count, sql, tuple(equals.values()))
            return count
        table = TABLES[kind]
        where = [table.c[name] == value for name, value in equals.items()]
        async with self._tx() as conn:
            result = await conn.execute(delete(table).where(*where))
        return int(getattr(result, "rowcount", 0) or 0)

    async def garbage_collect(self, now: float) -> GarbageCollected:
        if self._gc_lock_file is None:
            return await self._collect(now)
        fd = os.open(self._gc_lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return GarbageCollected(skipped=True)
            return await self._collect(now)
        finally:
            os.close(fd)  # releases the lock

    async def _collect(self, now: float) -> GarbageCollected:
        removed: dict[str, int] = {}
        async with self._tx() as conn:
            if conn.dialect.name == "postgresql":
                locked = await conn.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": GC_LOCK_ID})
                if not locked:
                    return GarbageCollected(skipped=True)
            for kind, table in TABLES.items():
                result = await conn.execute(
                    delete(table).where(table.c.expires_at.is_not(None), table.c.expires_at < now)
                )
                count = int(getattr(result, "rowcount", 0) or 0)
                if count:
                    removed[kind.KIND] = count
        return GarbageCollected(removed)

    async def close(self) -> None:
        if self._pinned is not None:
            async with contextlib.AsyncExitStack() as stack:
                if self._lock is not None:
                    await stack.enter_async_context(self._lock)
                await self._pinned.close()
            self._pinned = None
            self._driver = None
        await self._engine.dispose()


def _lookups(record: Record) -> dict[str, str]:
    """The values of ``record``'s indexed fields, for their columns."""
    return {name: str(getattr(record, name)) for name in indexes(type(record))}

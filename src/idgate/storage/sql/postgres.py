"""The PostgreSQL backend: SQLAlchemy Core (async) over asyncpg (SQLite has its own, :mod:`.sqlite`).

Foreign exceptions are translated here, at one boundary, into :mod:`idgate.errors`.

Concurrency: :meth:`PostgresStorage.update` is an optimistic compare-and-swap on the row's ``version``. Under
PostgreSQL's READ COMMITTED, a second writer's ``UPDATE ... WHERE version = v`` waits for the first,
then matches no row and runs ``fn`` again on the new state. A round that loses (or a serialization
failure / deadlock the database reports) is retried with a growing, jittered pause; only after
:data:`UPDATE_ATTEMPTS` rounds does the caller see :class:`~idgate.errors.Conflict`.

Garbage collection runs in one replica at a time: PostgreSQL's transaction-scoped advisory lock
(``pg_try_advisory_xact_lock``); a replica that does not get the lock returns at once.

Every public operation is timed into ``idgate_storage_duration_seconds{operation}`` (:mod:`.timing`).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from idgate.errors import AlreadyExists, Conflict, NotFound, StorageError
from idgate.storage.base import GarbageCollected, R, Record, check_indexed, indexes
from idgate.storage.codec import decode, encode
from idgate.storage.sql.schema import REVOKED, TABLES
from idgate.storage.sql.timing import timed

UPDATE_ATTEMPTS = 30
GC_LOCK_ID = 0x1D6A7F  # pg_advisory lock key for "idgate garbage collection"
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _RETRYABLE_SQLSTATES


class PostgresStorage:
    """:class:`~idgate.storage.base.Storage` on an :class:`~sqlalchemy.ext.asyncio.AsyncEngine`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self._engine.begin() as conn:
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

    @timed("create")
    async def create(self, *records: Record) -> None:
        async with self._tx() as conn:
            await _insert(conn, records)

    @timed("get")
    async def get(self, kind: type[R], id: str) -> R:
        table = TABLES[kind]
        async with self._tx() as conn:
            row = (await conn.execute(select(table.c.data).where(table.c.id == id))).first()
        if row is None:
            raise NotFound(f"{kind.KIND} not found")
        return decode(kind, row.data)

    @timed("list")
    async def list(self, kind: type[R]) -> list[R]:
        table = TABLES[kind]
        async with self._tx() as conn:
            rows = (await conn.execute(select(table.c.data).order_by(table.c.id))).all()
        return [decode(kind, row.data) for row in rows]

    @timed("update")
    async def update(
        self, kind: type[R], id: str, fn: Callable[[R], R], *, create: Sequence[Record] = ()
    ) -> R:
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                written = await self._update_once(kind, id, fn, create)
            except Conflict:
                written = None
            if written is not None:
                return written
            jitter = random.uniform(0.001, 0.004)  # noqa: S311 - a pause, not a secret
            await asyncio.sleep(jitter * min(attempt + 1, 10))
        raise Conflict(f"{kind.KIND}: too many concurrent updates")

    async def _update_once(
        self, kind: type[R], id: str, fn: Callable[[R], R], create: Sequence[Record]
    ) -> R | None:
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
            if rowcount != 1:
                return None  # another writer came first; nothing of this round is written
            await _insert(conn, create)
            return new

    @timed("delete")
    async def delete(self, kind: type[R], id: str) -> None:
        table = TABLES[kind]
        async with self._tx() as conn:
            result = await conn.execute(delete(table).where(table.c.id == id))
            if getattr(result, "rowcount", 0) != 1:
                raise NotFound(f"{kind.KIND} not found")

    @timed("find")
    async def find(self, kind: type[R], **equals: str) -> builtins.list[R]:
        check_indexed(kind, equals)
        table = TABLES[kind]
        where = [table.c[name] == value for name, value in equals.items()]
        async with self._tx() as conn:
            rows = (await conn.execute(select(table.c.data).where(*where).order_by(table.c.id))).all()
        return [decode(kind, row.data) for row in rows]

    @timed("delete_where")
    async def delete_where(self, kind: type[R], **equals: str) -> int:
        check_indexed(kind, equals)
        table = TABLES[kind]
        where = [table.c[name] == value for name, value in equals.items()]
        async with self._tx() as conn:
            result = await conn.execute(delete(table).where(*where))
        return int(getattr(result, "rowcount", 0) or 0)

    @timed("garbage_collect")
    async def garbage_collect(self, now: float) -> GarbageCollected:
        removed: dict[str, int] = {}
        async with self._tx() as conn:
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

    @timed("revoke_session")
    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None:
        row = pg_insert(REVOKED).values(id=id, revoked_at=revoked_at, expires_at=expires_at)
        upsert = row.on_conflict_do_update(
            index_elements=[REVOKED.c.id],
            set_={
                "revoked_at": func.greatest(REVOKED.c.revoked_at, row.excluded.revoked_at),
                "expires_at": func.greatest(REVOKED.c.expires_at, row.excluded.expires_at),
            },
        )
        async with self._tx() as conn:
            await conn.execute(delete(REVOKED).where(REVOKED.c.expires_at < revoked_at))
            await conn.execute(upsert)

    @timed("revoked_sessions")
    async def revoked_sessions(self, since: float, now: float) -> builtins.list[tuple[str, float]]:
        query = (
            select(REVOKED.c.id, REVOKED.c.expires_at)
            .where(REVOKED.c.revoked_at >= since, REVOKED.c.expires_at > now)
            .order_by(REVOKED.c.id)
        )
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(row.id), float(row.expires_at)) for row in rows]

    async def close(self) -> None:
        await self._engine.dispose()


async def _insert(conn: AsyncConnection, records: Sequence[Record]) -> None:
    for record in records:
        await conn.execute(
            insert(TABLES[type(record)]).values(
                id=record.id, version=1, expires_at=record.expires_at, data=encode(record), **_lookups(record)
            )
        )


def _lookups(record: Record) -> dict[str, str]:
    """The values of ``record``'s indexed fields, for their columns."""
    return {name: str(getattr(record, name)) for name in indexes(type(record))}

"""The PostgreSQL backend, on an ``asyncpg`` pool (SQLAlchemy and Alembic only migrate, at start-up).

Foreign exceptions are translated here, at one boundary, into :mod:`idgate.errors`.

Each operation is as few round trips as it can be, each statement prepared once per connection
(asyncpg's statement cache): a read is one ``SELECT``, outside any explicit transaction; a write is one
statement, which PostgreSQL runs as one transaction -- an update and the records created with it are one
``WITH ... UPDATE ... RETURNING``, ``INSERT ... SELECT ... FROM`` that update: the inserts happen only
if the update matched, and an id taken fails the whole statement, so nothing is written. A grant's
writes (the code redeemed or the refresh token rotated, its access token, a new refresh family) are
therefore one round trip. Through SQLAlchemy Core each operation had been a pool check-out with a ping
(``BEGIN``, ``;``, ``ROLLBACK``), then ``BEGIN``, its statements and ``COMMIT``: 21 round trips and
~4 ms of CPU per code exchange, against 3 now (``bench/grants_ab.py``).

Concurrency: :meth:`PostgresStorage.update` is an optimistic compare-and-swap, on the row's ``version``
or, when the caller passes the record it has just read (``seen``), on the stored text itself, which
saves the read. Under PostgreSQL's READ COMMITTED, a second writer's ``UPDATE ... WHERE`` waits for the
first, then matches no row and runs ``fn`` again on the new state. A round that loses (or a
serialization failure / deadlock the database reports) is retried with a growing, jittered pause; only
after :data:`UPDATE_ATTEMPTS` rounds does the caller see :class:`~idgate.errors.Conflict`.

There is no ping before each operation (SQLAlchemy's ``pool_pre_ping`` cost three round trips each):
the pool replaces a connection the server ended (a restart) as soon as the event loop sees it go. An
operation that meets one in the moment before (the first after the restart, at once) replaces every
connection of the pool, and a read is then made again on a fresh one; a write is not (it may have been
committed before the connection went), and fails with ``StorageError``.

Garbage collection runs in one replica at a time: PostgreSQL's transaction-scoped advisory lock
(``pg_try_advisory_xact_lock``); a replica that does not get the lock returns at once.

Every public operation is timed into ``idgate_storage_duration_seconds{operation}`` (:mod:`.timing`).
"""

# ruff: noqa: S608 - identifiers come from names.NAMES and the kinds' INDEXES, values are bound

from __future__ import annotations

import asyncio
import builtins
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from idgate.errors import AlreadyExists, Conflict, NotFound, StorageError
from idgate.storage.base import GarbageCollected, R, Record, check_indexed, indexes
from idgate.storage.codec import decode, encode, stored_text
from idgate.storage.sql.names import NAMES, REVOKED_SESSIONS
from idgate.storage.sql.timing import timed

UPDATE_ATTEMPTS = 30
GC_LOCK_ID = 0x1D6A7F  # pg_advisory lock key for "idgate garbage collection"
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def _lost(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the connection went (the server ended it -- a restart, an administrator --
    or the network did), rather than that the statement failed."""
    if isinstance(exc, asyncpg.PostgresError):
        return isinstance(exc, asyncpg.PostgresConnectionError) or str(exc.sqlstate).startswith("57P")
    return isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class _Table:
    """The SQL of one record kind's table (the parameters of ``insert``: id, expires_at, data, lookups)."""

    name: str
    lookups: tuple[str, ...]
    columns: str  # the insert's column list
    insert: str
    get: str
    get_versioned: str
    list: str
    delete: str
    sets: str  # the update's SET clause, its parameters numbered from $1


@cache
def _table(kind: type[Record]) -> _Table:
    name = _quote(NAMES[kind])
    lookups = indexes(kind)
    columns = "id, version, expires_at, data" + "".join(f", {_quote(c)}" for c in lookups)
    marks = ", ".join(["$1", "1", "$2", "$3", *(f"${i}" for i in range(4, 4 + len(lookups)))])
    sets = "version = version + 1, expires_at = $1, data = $2" + "".join(
        f", {_quote(c)} = ${i}" for i, c in enumerate(lookups, start=3)
    )
    return _Table(
        name=name,
        lookups=lookups,
        columns=columns,
        insert=f"INSERT INTO {name} ({columns}) VALUES ({marks})",
        get=f"SELECT data FROM {name} WHERE id = $1",
        get_versioned=f"SELECT version, data FROM {name} WHERE id = $1",
        list=f"SELECT data FROM {name} ORDER BY id",
        delete=f"DELETE FROM {name} WHERE id = $1",
        sets=sets,
    )


def _row(record: Record) -> list[Any]:
    """The insert's parameters for ``record``: id, expires_at, data, its indexed fields."""
    table = _table(type(record))
    return [record.id, record.expires_at, encode(record), *(str(getattr(record, c)) for c in table.lookups)]


@cache
def _update_sql(kind: type[Record], by: str, created: tuple[type[Record], ...]) -> str:
    """One statement: the update of ``kind`` where ``id`` and ``by`` (``version`` or ``data``) match,
    then, only if it matched, the insert of one record of each ``created`` kind; its value is whether
    the update matched. Parameters: the update's (``_Table.sets``), the id, the expected ``by``, then
    each created record's row (:func:`_row`)."""
    table = _table(kind)
    n = 3 + len(table.lookups)
    parts = [f"w AS (UPDATE {table.name} SET {table.sets} WHERE id = ${n} AND {by} = ${n + 1} RETURNING 1)"]
    at = n + 2
    for i, made in enumerate(created):
        into = _table(made)
        width = 3 + len(into.lookups)
        values = ", ".join(["$" + str(at), "1", *(f"${at + k}" for k in range(1, width))])
        parts.append(f"i{i} AS (INSERT INTO {into.name} ({into.columns}) SELECT {values} FROM w)")
        at += width
    return "WITH " + ", ".join(parts) + " SELECT count(*) = 1 FROM w"


def _where(names: builtins.list[str]) -> str:
    return " AND ".join(f"{_quote(n)} = ${i}" for i, n in enumerate(names, start=1))


_REVOKED = _quote(REVOKED_SESSIONS)
_PRUNE_REVOKED = f"DELETE FROM {_REVOKED} WHERE expires_at < $1"
_UPSERT_REVOKED = (
    f"INSERT INTO {_REVOKED} (id, revoked_at, expires_at) VALUES ($1, $2, $3) "
    f"ON CONFLICT (id) DO UPDATE SET revoked_at = greatest({_REVOKED}.revoked_at, excluded.revoked_at), "
    f"expires_at = greatest({_REVOKED}.expires_at, excluded.expires_at)"
)
_SELECT_REVOKED = (
    f"SELECT id, expires_at FROM {_REVOKED} WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY id"
)


class PostgresStorage:
    """:class:`~idgate.storage.base.Storage` on an ``asyncpg`` pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the pool, asyncpg's exceptions translated. When one is found gone, the others
        most likely went with it (a restart of the server): each is replaced when next taken."""
        try:
            async with self._pool.acquire() as conn:
                try:
                    yield conn
                except Exception as exc:
                    if _lost(exc):
                        conn.terminate()
                        await self._pool.expire_connections()
                    raise
        except (NotFound, AlreadyExists, Conflict, StorageError):
            raise
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise AlreadyExists(str(exc)) from None
        except Exception as exc:
            if _lost(exc) or isinstance(exc, TimeoutError):
                why = getattr(exc, "strerror", None) or type(exc).__name__
                raise StorageError(f"storage unreachable: {why}") from exc
            if not isinstance(exc, asyncpg.PostgresError):
                raise
            if exc.sqlstate in _RETRYABLE_SQLSTATES:
                raise Conflict("concurrent transaction") from exc
            raise StorageError(f"storage failed: {type(exc).__name__}") from exc

    async def _read(self, query: str, *args: Any) -> builtins.list[Any]:
        """The rows of one read, made again once on a fresh connection if its connection was lost."""
        for attempt in (1, 2):
            try:
                async with self._connection() as conn:
                    rows: builtins.list[Any] = await conn.fetch(query, *args)
                    return rows
            except StorageError as exc:
                if attempt == 2 or not _lost(exc.__cause__):
                    raise
        raise AssertionError("unreachable")

    @timed("create")
    async def create(self, *records: Record) -> None:
        if not records:
            return
        async with self._connection() as conn:
            if len(records) == 1:
                await conn.execute(_table(type(records[0])).insert, *_row(records[0]))
                return
            async with conn.transaction():
                for kind in dict.fromkeys(type(r) for r in records):
                    rows = [_row(r) for r in records if type(r) is kind]
                    await conn.executemany(_table(kind).insert, rows)

    @timed("get")
    async def get(self, kind: type[R], id: str) -> R:
        rows = await self._read(_table(kind).get, id)
        if not rows:
            raise NotFound(f"{kind.KIND} not found")
        return decode(kind, rows[0][0])

    @timed("list")
    async def list(self, kind: type[R]) -> builtins.list[R]:
        return [decode(kind, row[0]) for row in await self._read(_table(kind).list)]

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
        created = tuple(type(r) for r in create)
        rows = [value for record in create for value in _row(record)]
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                written = await self._update_once(kind, id, fn, created, rows, seen)
            except Conflict:
                written = None
            if written is not None:
                return written
            seen = None  # read it again
            jitter = random.uniform(0.001, 0.004)  # noqa: S311 - a pause, not a secret
            await asyncio.sleep(jitter * min(attempt + 1, 10))
        raise Conflict(f"{kind.KIND}: too many concurrent updates")

    async def _update_once(  # noqa: PLR0917 - the parts of one update() call
        self,
        kind: type[R],
        id: str,
        fn: Callable[[R], R],
        created: tuple[type[Record], ...],
        rows: builtins.list[Any],
        seen: R | None,
    ) -> R | None:
        """One round: on ``seen`` against its stored text (when ``fn`` accepts it), else on the record
        read now against its version; ``None`` when another writer came first (nothing written)."""
        table = _table(kind)
        if seen is not None:
            try:
                changed: R | None = fn(seen)
            except Exception:
                changed = None  # refused on what the caller saw: the stored record decides
            if changed is not None:
                _check_same(changed, kind, id)
                sql = _update_sql(kind, "data", created)
                async with self._connection() as conn:
                    if await conn.fetchval(sql, *_sets(table, changed), id, stored_text(seen), *rows):
                        return changed
        found = await self._read(table.get_versioned, id)
        if not found:
            raise NotFound(f"{kind.KIND} not found")
        version, data = found[0]
        new = fn(decode(kind, data))
        _check_same(new, kind, id)
        sql = _update_sql(kind, "version", created)
        async with self._connection() as conn:
            matched = await conn.fetchval(sql, *_sets(table, new), id, version, *rows)
        return new if matched else None

    @timed("delete")
    async def delete(self, kind: type[R], id: str) -> None:
        async with self._connection() as conn:
            status = await conn.execute(_table(kind).delete, id)
        if _count(status) != 1:
            raise NotFound(f"{kind.KIND} not found")

    @timed("find")
    async def find(self, kind: type[R], **equals: str) -> builtins.list[R]:
        check_indexed(kind, equals)
        sql = f"SELECT data FROM {_table(kind).name} WHERE {_where(builtins.list(equals))} ORDER BY id"
        return [decode(kind, row[0]) for row in await self._read(sql, *equals.values())]

    @timed("delete_where")
    async def delete_where(self, kind: type[R], **equals: str) -> int:
        check_indexed(kind, equals)
        sql = f"DELETE FROM {_table(kind).name} WHERE {_where(builtins.list(equals))}"
        async with self._connection() as conn:
            return _count(await conn.execute(sql, *equals.values()))

    @timed("garbage_collect")
    async def garbage_collect(self, now: float) -> GarbageCollected:
        removed: dict[str, int] = {}
        async with self._connection() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", GC_LOCK_ID):
                return GarbageCollected(skipped=True)
            for kind in NAMES:
                sql = f"DELETE FROM {_table(kind).name} WHERE expires_at IS NOT NULL AND expires_at < $1"
                count = _count(await conn.execute(sql, now))
                if count:
                    removed[kind.KIND] = count
        return GarbageCollected(removed)

    @timed("revoke_session")
    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(_PRUNE_REVOKED, revoked_at)
            await conn.execute(_UPSERT_REVOKED, id, revoked_at, expires_at)

    @timed("revoked_sessions")
    async def revoked_sessions(self, since: float, now: float) -> builtins.list[tuple[str, float]]:
        return [(str(row[0]), float(row[1])) for row in await self._read(_SELECT_REVOKED, since, now)]

    async def close(self) -> None:
        await self._pool.close()


def _sets(table: _Table, record: Record) -> builtins.list[Any]:
    """The update's SET parameters for ``record``: expires_at, data, its indexed fields."""
    return [record.expires_at, encode(record), *(str(getattr(record, c)) for c in table.lookups)]


def _check_same(new: Record, kind: type[Record], id: str) -> None:
    if new.id != id or type(new) is not kind:
        raise ValueError("an update function must return a record of the same kind and id")


def _count(status: str) -> int:
    """The row count of a command status (``DELETE 3``)."""
    return int(status.rsplit(" ", 1)[-1])

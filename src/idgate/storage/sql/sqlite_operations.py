"""The SQLite backend's operations: each one a single function on a ``sqlite3`` connection, with its SQL
written once per table (:mod:`.sqlite` decides which connection runs it).

Each function is a whole operation -- a write is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` -- so it runs in
one call wherever it runs. ``BEGIN IMMEDIATE`` takes SQLite's write lock up front. :func:`update` reads
and runs the caller's function before it takes the lock, then writes only if the record is still the one
it read (a compare-and-swap): the lock is held for the write alone. When the caller has just read the
record (``seen``: a code exchange checks the code, a refresh the family, before they issue anything) the
read is not made again: the write is a compare-and-swap on the stored text itself, and only when that
finds another text does the update read the record. An update sets only the columns that change (the
record's text and version; its expiry and indexed fields when they moved), so SQLite writes no index page
it did not need to.

Why functions and not SQLAlchemy: through SQLAlchemy + aiosqlite one ``update`` cost about ten hops
between the event loop and a worker thread (cursor, execute, fetch, commit, the pool's reset ...), each a
wake-up of both threads, plus statement construction in Python. Even one hop (~150-250 µs of CPU here)
costs more than the work: reading or writing one small row with WAL and ``synchronous = NORMAL`` (no sync
at commit) is ~20-50 µs. So operations run on a connection owned by the event loop (:func:`open_direct`),
which never waits: when another process holds the write lock it fails at once with SQLITE_BUSY, nothing
was written, and :mod:`.sqlite` tries it again after a short pause. The loop's connection never
checkpoints the WAL; a worker thread does (:func:`checkpoint`, on :func:`open_worker`'s connection), so
the loop never syncs a file.

The functions only touch ``sqlite3``; :mod:`.sqlite` translates their exceptions. The SQL is built from
the tables' own names (:mod:`.names`) and the kinds' indexed fields (quoted), never from input; values
are always bound.
"""

# ruff: noqa: S608 - identifiers come from names.NAMES and the kinds' INDEXES, values are bound

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

from idgate.storage.base import Record, indexes
from idgate.storage.codec import decode, encode, stored_text
from idgate.storage.sql.names import NAMES, REVOKED_SESSIONS


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Statements:
    """The SQL of one record kind's table.

    The updates: ``update`` sets every column, ``update_data`` the text alone (expiry and indexed fields
    unchanged); each matches the version read (``update``, ``update_data``) or the text the caller saw
    (``swap``, ``swap_data``). Their parameters: ``[expires_at, data, *lookups]`` or ``[data]``, then
    ``id`` and the version or text."""

    lookups: tuple[str, ...]
    insert: str
    get: str
    list: str
    get_versioned: str
    update: str
    update_data: str
    swap: str
    swap_data: str
    delete: str


@cache
def statements(kind: type[Record]) -> Statements:
    table = _quote(NAMES[kind])
    lookups = indexes(kind)
    cols = ", ".join(_quote(c) for c in lookups)
    extra_cols = f", {cols}" if lookups else ""
    extra_marks = ", ?" * len(lookups)
    extra_sets = "".join(f", {_quote(c)} = ?" for c in lookups)
    columns = f"id, version, expires_at, data{extra_cols}"
    every = f"UPDATE {table} SET version = version + 1, expires_at = ?, data = ?{extra_sets} WHERE id = ?"
    text = f"UPDATE {table} SET version = version + 1, data = ? WHERE id = ?"
    return Statements(
        lookups=lookups,
        insert=f"INSERT INTO {table} ({columns}) VALUES (?, 1, ?, ?{extra_marks})",
        get=f"SELECT data FROM {table} WHERE id = ?",
        list=f"SELECT data FROM {table} ORDER BY id",
        get_versioned=f"SELECT version, data FROM {table} WHERE id = ?",
        update=every + " AND version = ?",
        update_data=text + " AND version = ?",
        swap=every + " AND data = ?",
        swap_data=text + " AND data = ?",
        delete=f"DELETE FROM {table} WHERE id = ?",
    )


@cache
def where_sql(kind: type[Record], verb: str, names: tuple[str, ...]) -> str:
    """``SELECT data ... WHERE a = ? AND b = ? ORDER BY id`` or ``DELETE ... WHERE ...`` (names are
    checked against the kind's indexes by the caller)."""
    table = _quote(NAMES[kind])
    where = " AND ".join(f"{_quote(n)} = ?" for n in names)
    if verb == "select":
        return f"SELECT data FROM {table} WHERE {where} ORDER BY id"
    return f"DELETE FROM {table} WHERE {where}"


def _lookup_values(stmts: Statements, record: Record) -> list[str]:
    return [str(getattr(record, name)) for name in stmts.lookups]


def _transaction(conn: sqlite3.Connection, body: Callable[[], Any], *, write: bool) -> Any:
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        result = body()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return result


def _insert_rows(records: Sequence[Record]) -> list[tuple[str, list[Any]]]:
    rows = []
    for record in records:
        stmts = statements(type(record))
        rows.append(
            (stmts.insert, [record.id, record.expires_at, encode(record), *_lookup_values(stmts, record)])
        )
    return rows


def _insert(conn: sqlite3.Connection, rows: list[tuple[str, list[Any]]]) -> None:
    for sql, params in rows:
        conn.execute(sql, params)


def create(conn: sqlite3.Connection, records: Sequence[Record]) -> None:
    """Insert ``records`` in one transaction."""
    rows = _insert_rows(records)
    _transaction(conn, lambda: _insert(conn, rows), write=True)


def get(conn: sqlite3.Connection, kind: type[Record], id: str) -> str | None:
    """The stored JSON of ``id`` (decoded by the caller, on the event loop), or ``None``."""
    row = conn.execute(statements(kind).get, (id,)).fetchone()
    return None if row is None else str(row[0])


def select_all(conn: sqlite3.Connection, sql: str, params: Sequence[str]) -> list[str]:
    return [str(row[0]) for row in conn.execute(sql, tuple(params)).fetchall()]


class Missing(Exception):
    """No record with that id (raised in the worker thread; the backend turns it into ``NotFound``)."""


class Changed(Exception):
    """The record changed between the read and the write of :func:`update` (read it again)."""


def _new_record(kind: type[Record], id: str, new: Any) -> Any:
    if new.id != id or type(new) is not kind:
        raise ValueError("an update function must return a record of the same kind and id")
    return new


def _changes(stmts: Statements, old: Record, new: Record, *, swap: bool) -> tuple[str, list[Any]]:
    """The update statement that writes ``new`` over ``old`` and its leading parameters (the columns
    that change)."""
    moved = new.expires_at != old.expires_at or any(
        getattr(new, name) != getattr(old, name) for name in stmts.lookups
    )
    if moved:
        sql = stmts.swap if swap else stmts.update
        return sql, [new.expires_at, encode(new), *_lookup_values(stmts, new)]
    return (stmts.swap_data if swap else stmts.update_data), [encode(new)]


def _write(
    conn: sqlite3.Connection, sql: str, params: list[Any], inserts: list[tuple[str, list[Any]]]
) -> bool:
    """One transaction: the update (when it matches) and the inserts with it; whether it matched."""

    def body() -> bool:
        if conn.execute(sql, params).rowcount != 1:
            return False  # nothing written: the transaction ends empty
        _insert(conn, inserts)
        return True

    written: bool = _transaction(conn, body, write=True)
    return written


def update(  # noqa: PLR0917 - called as _run(fn, *args), positionally
    conn: sqlite3.Connection,
    kind: type[Record],
    id: str,
    fn: Callable[[Any], Any],
    created: Sequence[Record] = (),
    seen: Record | None = None,
) -> Any:
    """Apply ``fn`` to the record, write the result back if the record is still the one ``fn`` saw, and
    insert ``created`` in the same transaction; the new record.

    ``seen``: the record as the caller just read it. ``fn`` runs on it and the write matches its stored
    text, without a read; when the record changed since (or ``fn`` refuses it), the update goes on as
    without ``seen``. Otherwise the read, the decoding, ``fn`` and the encoding run before the write lock
    is taken, and the write matches the version read. Either way the lock is held only for the write
    (other processes of the host wait less). :class:`Changed` when another writer came first (nothing
    written): the caller reads again.
    """
    stmts = statements(kind)
    inserts = _insert_rows(created)
    if seen is not None:
        try:
            changed = fn(seen)
        except Exception:
            changed = None  # refused on what the caller saw: the stored record decides
        if changed is not None:
            new = _new_record(kind, id, changed)
            sql, params = _changes(stmts, seen, new, swap=True)
            if _write(conn, sql, [*params, id, stored_text(seen)], inserts):
                return new
    rows = conn.execute(stmts.get_versioned, (id,)).fetchall()  # fetchall: no statement left open
    if not rows:
        raise Missing(id)
    version, data = int(rows[0][0]), str(rows[0][1])
    old = decode(kind, data)
    new = _new_record(kind, id, fn(old))
    sql, params = _changes(stmts, old, new, swap=False)
    if not _write(conn, sql, [*params, id, version], inserts):
        raise Changed(id)
    return new


def execute_count(conn: sqlite3.Connection, sql: str, params: Sequence[str]) -> int:
    """Run one write statement in its own transaction; the number of rows it touched."""
    return int(_transaction(conn, lambda: conn.execute(sql, tuple(params)).rowcount, write=True))


def delete(conn: sqlite3.Connection, kind: type[Record], id: str) -> int:
    return execute_count(conn, statements(kind).delete, (id,))


# -- the event loop's own connection -------------------------------------------------------------------


def open_direct(path: str) -> sqlite3.Connection:
    """A second connection to the file, for the event loop's thread: it never waits for a lock (a busy
    database raises at once and the caller takes the worker thread instead) and never checkpoints the WAL
    by itself (a checkpoint writes and syncs megabytes; :func:`checkpoint` runs it in the worker)."""
    conn = sqlite3.connect(path, timeout=0)
    try:  # another process may hold the file at this moment (closing it, it checkpoints and removes the WAL)
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    except sqlite3.Error:
        conn.close()  # the caller tries again with a new one
        raise
    return conn


def busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock this operation needs (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc)


def checkpoint(conn: sqlite3.Connection) -> None:
    """Copy the WAL back into the database where no reader needs it (``PASSIVE``: waits for no one)."""
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def open_worker(path: str) -> sqlite3.Connection:
    """The worker thread's connection: it waits up to 10 s for another process's write lock."""
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def collect(conn: sqlite3.Connection, now: float) -> dict[str, int]:
    """Delete every record that expired before ``now``, in one transaction; ``{kind: count}``."""

    def body() -> dict[str, int]:
        removed: dict[str, int] = {}
        for kind, name in NAMES.items():
            sql = f"DELETE FROM {_quote(name)} WHERE expires_at IS NOT NULL AND expires_at < ?"
            count = conn.execute(sql, (now,)).rowcount
            if count:
                removed[kind.KIND] = count
        return removed

    result: dict[str, int] = _transaction(conn, body, write=True)
    return result


_REVOKED = _quote(REVOKED_SESSIONS)
_PRUNE_REVOKED = f"DELETE FROM {_REVOKED} WHERE expires_at < ?"
_UPSERT_REVOKED = (
    f"INSERT INTO {_REVOKED} (id, revoked_at, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET revoked_at = max(revoked_at, excluded.revoked_at), "
    "expires_at = max(expires_at, excluded.expires_at)"
)
_SELECT_REVOKED = (
    f"SELECT id, expires_at FROM {_REVOKED} WHERE revoked_at >= ? AND expires_at > ? ORDER BY id"
)


def revoke_session(conn: sqlite3.Connection, id: str, revoked_at: float, expires_at: float) -> None:
    """Add (or extend) one revocation and remove the expired ones, in one transaction."""

    def body() -> None:
        conn.execute(_PRUNE_REVOKED, (revoked_at,))
        conn.execute(_UPSERT_REVOKED, (id, revoked_at, expires_at))

    _transaction(conn, body, write=True)


def revoked_sessions(conn: sqlite3.Connection, since: float, now: float) -> list[tuple[str, float]]:
    return [(str(r[0]), float(r[1])) for r in conn.execute(_SELECT_REVOKED, (since, now)).fetchall()]


def schema_revision(path: str) -> str | None:
    """The Alembic revision a SQLite file is at (``None``: no file, or no schema yet)."""
    try:
        conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])

"""SQLite without a thread hop per statement: each storage operation is one function run in the
connection's worker thread (aiosqlite's), with its SQL written once per table.

Through SQLAlchemy + aiosqlite a single ``update`` costs about ten hops between the event loop and the
worker thread (cursor, execute, fetch, commit, the pool's reset ...), each a wake-up of both threads, plus
statement construction and cache-key generation in Python. Here the whole transaction -- ``BEGIN
IMMEDIATE``, the reads, the caller's update function, the writes, ``COMMIT`` -- runs in one call, so an
operation is one hop. ``BEGIN IMMEDIATE`` takes SQLite's write lock up front: another process that holds
it is waited for in the worker thread (the connection's busy timeout), never on the event loop, and a
compare-and-swap can no longer lose to another writer between its read and its write.

The functions here only touch ``sqlite3``; :mod:`.backend` translates their exceptions. The SQL is
built from the schema's own table and column names (quoted), never from input; values are always bound.
"""

# ruff: noqa: S608 - identifiers come from schema.TABLES and the kinds' INDEXES, values are bound

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from idgate.storage.base import Record, indexes
from idgate.storage.codec import decode, encode
from idgate.storage.sql.schema import TABLES


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Statements:
    """The SQL of one record kind's table."""

    lookups: tuple[str, ...]
    insert: str
    get: str
    list: str
    get_versioned: str
    update: str
    delete: str


@cache
def statements(kind: type[Record]) -> Statements:
    table = _quote(TABLES[kind].name)
    lookups = indexes(kind)
    cols = ", ".join(_quote(c) for c in lookups)
    extra_cols = f", {cols}" if lookups else ""
    extra_marks = ", ?" * len(lookups)
    extra_sets = "".join(f", {_quote(c)} = ?" for c in lookups)
    columns = f"id, version, expires_at, data{extra_cols}"
    return Statements(
        lookups=lookups,
        insert=f"INSERT INTO {table} ({columns}) VALUES (?, 1, ?, ?{extra_marks})",
        get=f"SELECT data FROM {table} WHERE id = ?",
        list=f"SELECT data FROM {table} ORDER BY id",
        get_versioned=f"SELECT version, data FROM {table} WHERE id = ?",
        update=(
            f"UPDATE {table} SET version = ?, expires_at = ?, data = ?{extra_sets} "
            "WHERE id = ? AND version = ?"
        ),
        delete=f"DELETE FROM {table} WHERE id = ?",
    )


@cache
def where_sql(kind: type[Record], verb: str, names: tuple[str, ...]) -> str:
    """``SELECT data ... WHERE a = ? AND b = ? ORDER BY id`` or ``DELETE ... WHERE ...`` (names are
    checked against the kind's indexes by the caller)."""
    table = _quote(TABLES[kind].name)
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


def create(conn: sqlite3.Connection, record: Record) -> None:
    stmts = statements(type(record))
    params = [record.id, record.expires_at, encode(record), *_lookup_values(stmts, record)]
    _transaction(conn, lambda: conn.execute(stmts.insert, params), write=True)


def get(conn: sqlite3.Connection, kind: type[Record], id: str) -> str | None:
    """The stored JSON of ``id`` (decoded by the caller, on the event loop), or ``None``."""
    row = conn.execute(statements(kind).get, (id,)).fetchone()
    return None if row is None else str(row[0])


def select_all(conn: sqlite3.Connection, sql: str, params: Sequence[str]) -> list[str]:
    return [str(row[0]) for row in conn.execute(sql, tuple(params)).fetchall()]


class Missing(Exception):
    """No record with that id (raised in the worker thread; the backend turns it into ``NotFound``)."""


def update(conn: sqlite3.Connection, kind: type[Record], id: str, fn: Callable[[Any], Any]) -> Any:
    """Read, apply ``fn``, write back -- one transaction holding the write lock; the new record."""
    stmts = statements(kind)

    def body() -> Any:
        row = conn.execute(stmts.get_versioned, (id,)).fetchone()
        if row is None:
            raise Missing(id)
        version, data = int(row[0]), str(row[1])
        new = fn(decode(kind, data))
        if new.id != id or type(new) is not kind:
            raise ValueError("an update function must return a record of the same kind and id")
        params = [version + 1, new.expires_at, encode(new), *_lookup_values(stmts, new), id, version]
        cursor = conn.execute(stmts.update, params)
        if cursor.rowcount != 1:  # cannot happen under the write lock; kept as the CAS it stands for
            raise sqlite3.OperationalError("database is locked")
        return new

    return _transaction(conn, body, write=True)


def execute_count(conn: sqlite3.Connection, sql: str, params: Sequence[str]) -> int:
    """Run one write statement in its own transaction; the number of rows it touched."""
    return int(_transaction(conn, lambda: conn.execute(sql, tuple(params)).rowcount, write=True))


def delete(conn: sqlite3.Connection, kind: type[Record], id: str) -> int:
    return execute_count(conn, statements(kind).delete, (id,))

"""SQL storage (SQLite and PostgreSQL) with its Alembic migrations; :func:`open_sql` builds it from a URL."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import StaticPool

from idgate.errors import StorageError
from idgate.storage.sql.backend import SqlStorage
from idgate.storage.sql.migrate import upgrade

__all__ = ["SqlStorage", "async_url", "open_sql"]


def async_url(url: str) -> str:
    """The SQLAlchemy async URL of a config URL: ``sqlite:///x.db`` -> ``sqlite+aiosqlite:///x.db``,
    ``postgresql://`` / ``postgres://`` -> ``postgresql+asyncpg://``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise StorageError(f"storage URL needs a scheme (sqlite:/// or postgresql://): {url!r}")
    base = scheme.split("+", 1)[0].lower()
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise StorageError(f"unsupported storage scheme {scheme!r}: use sqlite:/// or postgresql://")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@contextlib.asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    """An exclusive ``flock`` on ``path`` (processes opening one SQLite file migrate one at a time)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


DEFAULT_POOL_SIZE = 10


async def open_sql(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> SqlStorage:
    """Connect, create the SQLite file's directory if needed, run migrations.

    ``pool_size``: PostgreSQL connections kept per process (as many again may open under load).
    """
    sa_url = make_url(async_url(url))
    kwargs: dict[str, Any] = {}
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database or ""
        if database in ("", ":memory:"):
            sa_url = sa_url.set(database=":memory:")
            kwargs["poolclass"] = StaticPool  # one shared connection, or every session sees a new DB
        else:
            database = str(Path(database).expanduser())
            sa_url = sa_url.set(database=database)
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 10}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    engine = create_async_engine(sa_url, **kwargs)
    if sa_url.get_backend_name() == "sqlite" and sa_url.database != ":memory:":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    database = sa_url.database or ""
    on_file = sa_url.get_backend_name() == "sqlite" and database != ":memory:"
    storage = SqlStorage(engine, gc_lock_file=Path(database + ".gc.lock") if on_file else None)
    try:
        if sa_url.get_backend_name() == "sqlite" and database != ":memory:":
            async with _file_lock(Path(database + ".lock")):
                await upgrade(engine)
        else:
            await upgrade(engine)
    except Exception as exc:
        await engine.dispose()
        if isinstance(exc, StorageError):
            raise
        raise StorageError(f"cannot open storage: {type(exc).__name__}: {exc}") from exc
    return storage

"""SQL storage (SQLite and PostgreSQL) with its Alembic migrations; :func:`open_sql` builds it from a URL.

SQLite runs on ``sqlite3`` alone (:mod:`.sqlite`), PostgreSQL on ``asyncpg`` alone (:mod:`.postgres`);
SQLAlchemy and Alembic are imported only when a database's schema is behind.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idgate.errors import StorageError
from idgate.storage.sql.sqlite import MEMORY, SqliteStorage, open_sqlite

if TYPE_CHECKING:
    from idgate.storage.sql.postgres import PostgresStorage

__all__ = ["SqliteStorage", "async_url", "open_sql", "sqlite_path"]


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


DEFAULT_POOL_SIZE = 10


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///PATH`` URL (``~`` expanded), or ``:memory:``."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    path = rest[1:] if rest.startswith("/") else rest
    if path in ("", MEMORY):
        return MEMORY
    return str(Path(path).expanduser())


async def open_sql(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> SqliteStorage | PostgresStorage:
    """Connect, create the SQLite file's directory if needed, run migrations.

    ``pool_size``: PostgreSQL connections per process, and as many again under load (the pool holds
    at most twice as many; it opens one at start, more as they are needed, and closes those idle for
    five minutes).
    """
    async_url(url)  # refuses a URL without a known scheme
    if url.split("://", 1)[0].split("+", 1)[0].lower() == "sqlite":
        try:
            return await open_sqlite(sqlite_path(url))
        except StorageError:
            raise
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open storage: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # Alembic's, while migrating
            raise StorageError(f"cannot open storage: {type(exc).__name__}: {exc}") from exc
    return await _open_postgres(url, pool_size)


def _dsn(url: str) -> str:
    """asyncpg's DSN of a config URL (``postgres://``, ``postgresql://``, ``postgresql+asyncpg://``)."""
    return "postgresql://" + url.split("://", 1)[1]


async def _open_postgres(url: str, pool_size: int) -> PostgresStorage:
    """The pool, after the schema is brought up to date: Alembic (and SQLAlchemy) are loaded only when
    the database is behind :data:`~.names.SCHEMA_HEAD`."""
    import asyncpg  # type: ignore[import-untyped]

    from idgate.storage.sql.names import SCHEMA_HEAD
    from idgate.storage.sql.postgres import PostgresStorage

    try:
        pool = await asyncpg.create_pool(_dsn(url), min_size=1, max_size=2 * pool_size, reset=_keep_session)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StorageError(f"cannot open storage: {type(exc).__name__}: {exc}") from exc
    storage = PostgresStorage(pool)
    try:
        if await _postgres_revision(pool) != SCHEMA_HEAD:
            await _migrate_postgres(url)
    except Exception as exc:
        await pool.close()
        if isinstance(exc, StorageError):
            raise
        raise StorageError(f"cannot open storage: {type(exc).__name__}: {exc}") from exc
    return storage


async def _keep_session(connection: Any) -> None:
    """A connection goes back to the pool as it is (asyncpg has rolled back a transaction left open):
    idgate sets no session state -- no ``SET``, ``LISTEN`` or session-level advisory lock -- so the
    round trip of asyncpg's reset query (``RESET ALL``, ``UNLISTEN *`` ...) after each operation is
    saved."""


async def _postgres_revision(pool: Any) -> str | None:
    """The Alembic revision the database is at (``None``: no schema yet)."""
    import asyncpg

    try:
        found = await pool.fetchval("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return None
    return None if found is None else str(found)


async def _migrate_postgres(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    from idgate.storage.sql.migrate import upgrade

    engine = create_async_engine(make_url(async_url(url)), pool_size=1, max_overflow=0)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()

"""SQL storage (SQLite and PostgreSQL) with its Alembic migrations; :func:`open_sql` builds it from a URL.

SQLite runs on ``sqlite3`` alone (:mod:`.sqlite`); SQLAlchemy is imported for PostgreSQL. Alembic is
imported only for a database whose schema is behind (a SQLite file, or a PostgreSQL database): every
later start reads the revision and leaves it out (~7 MB of every process).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idgate.errors import StorageError
from idgate.storage.sql.names import SCHEMA_HEAD
from idgate.storage.sql.sqlite import MEMORY, SqliteStorage, open_sqlite

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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

    ``pool_size``: PostgreSQL connections kept per process (as many again may open under load).
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


async def _open_postgres(url: str, pool_size: int) -> PostgresStorage:
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    from idgate.storage.sql.postgres import PostgresStorage

    kwargs: dict[str, Any] = {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
    engine = create_async_engine(make_url(async_url(url)), **kwargs)
    storage = PostgresStorage(engine)
    try:
        if await _postgres_revision(engine) != SCHEMA_HEAD:
            from idgate.storage.sql.migrate import upgrade

            await upgrade(engine)
    except Exception as exc:
        await engine.dispose()
        if isinstance(exc, StorageError):
            raise
        raise StorageError(f"cannot open storage: {type(exc).__name__}: {exc}") from exc
    return storage


async def _postgres_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision a PostgreSQL database is at (``None``: no schema yet, or several heads)."""
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    async with engine.connect() as conn:
        try:
            found = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except ProgrammingError:  # no alembic_version table: an empty database
            return None
    return str(found[0]) if len(found) == 1 else None

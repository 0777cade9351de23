"""Bring a database to the newest schema with Alembic, from inside idgate (no ``alembic.ini``).

On PostgreSQL the upgrade holds a transaction-scoped advisory lock, so replicas that start together
migrate one after the other; the later ones find nothing to do.

A database that is behind is reported as a step (:mod:`idgate.progress`: a line on stderr for a command,
a log line for ``idgate serve``): ``Migrating storage from 0002 to 0004``, or ``Creating the storage
schema (0004)`` for an empty one. An up-to-date database says nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from idgate.progress import step

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x1D6A7E  # pg_advisory lock key for "idgate migrations"


def _config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = _config(connection)
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    current = set(MigrationContext.configure(connection).get_current_heads())
    if current == heads:
        return
    target = ", ".join(sorted(heads))
    what = (
        f"Migrating storage from {', '.join(sorted(current))} to {target}"
        if current
        else f"Creating the storage schema ({target})"
    )
    with step(what):
        command.upgrade(cfg, "head")


async def upgrade(engine: AsyncEngine) -> None:
    """Run every pending migration in one transaction."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        await conn.run_sync(_upgrade)


def upgrade_connection(connection: Connection) -> None:
    """Run every pending migration on a synchronous connection (the SQLite backend's, :mod:`.sqlite`)."""
    _upgrade(connection)

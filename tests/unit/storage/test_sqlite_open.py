"""Opening SQLite storage: the URL's file, the schema revision idgate expects, and no SQLAlchemy or
Alembic in a process whose file is already current (they are ~40 MB of every worker's memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from idgate.storage.sql import sqlite_path
from idgate.storage.sql.names import NAMES, SCHEMA_HEAD
from idgate.storage.sql.schema import TABLES


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/idgate.db", "data/idgate.db"),
        ("sqlite:////var/lib/idgate.db", "/var/lib/idgate.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_the_file_of_a_url(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_a_home_relative_path_is_expanded() -> None:
    assert sqlite_path("sqlite:///~/idgate.db") == str(Path("~/idgate.db").expanduser())


def test_the_schema_head_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from idgate.storage.sql.migrate import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_heads() == [SCHEMA_HEAD]


def test_every_kind_has_a_table_of_its_name() -> None:
    assert {kind: table.name for kind, table in TABLES.items()} == NAMES


_USE = """
import asyncio, sys
from idgate.storage import open_storage
from idgate.storage.base import Client

async def main() -> None:
    storage = await open_storage(sys.argv[1])
    if sys.argv[2] == "write":
        await storage.create(Client(id="c", secret="s"))
    assert (await storage.get(Client, "c")).secret == "s"
    await storage.garbage_collect(0.0)
    await storage.close()
    loaded = sorted(m for m in ("sqlalchemy", "alembic", "aiosqlite") if m in sys.modules)
    print(",".join(loaded))

asyncio.run(main())
"""


def _use(url: str, mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _USE, url, mode], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_current_file_opens_without_sqlalchemy_or_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/idgate.db"
    assert _use(url, "write") == "alembic,sqlalchemy"  # a new file: its schema is created by Alembic
    assert _use(url, "read") == ""  # every later start: sqlite3 alone

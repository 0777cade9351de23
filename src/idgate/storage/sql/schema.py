"""The tables, as the code reads and writes them (the migrations own their creation).

Every record kind has one table of the same shape: ``id`` (primary key), ``version`` (bumped by each
update; the compare-and-swap that serialises concurrent updates), ``expires_at`` (indexed, for garbage
collection) and ``data`` (the record as JSON, :mod:`idgate.storage.codec`). Fields named in a kind's
``INDEXES`` are also kept in indexed string columns of the same name (migration 0002), so
:meth:`~idgate.storage.base.Storage.find` never scans a table.

``revoked_sessions`` (migration 0005) is the one table of another shape: ``id``, ``revoked_at`` and
``expires_at``, both indexed (:meth:`~idgate.storage.base.Storage.revoke_session`).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

from idgate.storage.base import Record, indexes
from idgate.storage.sql.names import NAMES, REVOKED_SESSIONS

metadata = MetaData()


def _record_table(name: str, kind: type[Record]) -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(255), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("expires_at", Float, nullable=True, index=True),
        Column("data", Text, nullable=False),
        *(Column(field, String(512), nullable=False, index=True) for field in indexes(kind)),
    )


#: record kind -> its table (one explicit registry; no import-time magic).
TABLES: dict[type[Record], Table] = {kind: _record_table(name, kind) for kind, name in NAMES.items()}

REVOKED: Table = Table(
    REVOKED_SESSIONS,
    metadata,
    Column("id", String(255), primary_key=True),
    Column("revoked_at", Float, nullable=False, index=True),
    Column("expires_at", Float, nullable=False, index=True),
)

"""The tables, as the code reads and writes them (the migrations own their creation).

Every record kind has one table of the same shape: ``id`` (primary key), ``version`` (bumped by each
update; the compare-and-swap that serialises concurrent updates), ``expires_at`` (indexed, for garbage
collection) and ``data`` (the record as JSON, :mod:`idgate.storage.codec`). Kinds that later need other
lookups (refresh tokens by user and client) get indexed columns of their own in a new migration.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

from idgate.storage.base import (
    AccessToken,
    AuthCode,
    AuthRequest,
    Client,
    Password,
    Record,
    SigningKeys,
)

metadata = MetaData()


def _record_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", String(255), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("expires_at", Float, nullable=True, index=True),
        Column("data", Text, nullable=False),
    )


#: record kind -> its table (one explicit registry; no import-time magic).
TABLES: dict[type[Record], Table] = {
    Client: _record_table("clients"),
    Password: _record_table("passwords"),
    AuthRequest: _record_table("auth_requests"),
    AuthCode: _record_table("auth_codes"),
    AccessToken: _record_table("access_tokens"),
    SigningKeys: _record_table("signing_keys"),
}

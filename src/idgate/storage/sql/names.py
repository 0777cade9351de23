"""The tables' names and the schema's newest revision, without SQLAlchemy (the SQLite backend runs on
``sqlite3`` alone; :mod:`.schema` builds SQLAlchemy tables from the same names for migrations and
PostgreSQL)."""

from __future__ import annotations

from idgate.storage.base import (
    AccessToken,
    AuthCode,
    AuthRequest,
    Client,
    DeviceRequest,
    DeviceToken,
    LoginFailures,
    LoginSession,
    Password,
    Record,
    RefreshToken,
    SecondFactor,
    SigningKeys,
)

#: The newest Alembic revision (``migrations/versions``); a test checks it against Alembic's own head, so
#: a new migration cannot forget it. A SQLite file at this revision opens without loading Alembic.
SCHEMA_HEAD = "0005"

#: record kind -> table name (one explicit registry; no import-time magic).
NAMES: dict[type[Record], str] = {
    Client: "clients",
    Password: "passwords",
    AuthRequest: "auth_requests",
    AuthCode: "auth_codes",
    AccessToken: "access_tokens",
    SigningKeys: "signing_keys",
    RefreshToken: "refresh_tokens",
    LoginSession: "login_sessions",
    DeviceRequest: "device_requests",
    DeviceToken: "device_tokens",
    LoginFailures: "login_failures",
    SecondFactor: "second_factors",
}

#: The revocation list of proxy sessions (migration 0005): not a record kind, a table of its own.
REVOKED_SESSIONS = "revoked_sessions"

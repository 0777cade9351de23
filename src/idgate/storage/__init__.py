"""The provider's state: the :class:`Storage` protocol and its records (:mod:`.base`), the SQL backend for
SQLite and PostgreSQL (:mod:`.sql`), and the read-only overlay of config clients and passwords
(:mod:`.static`).

    storage = await open_storage("sqlite:///data/idgate.db")   # or sqlite:///:memory:, postgresql://...
    ...
    await storage.close()
"""

from __future__ import annotations

from idgate.storage.base import (
    AccessToken,
    AuthCode,
    AuthRequest,
    Claims,
    Client,
    DeviceRequest,
    DeviceToken,
    GarbageCollected,
    LoginSession,
    Password,
    Record,
    RefreshToken,
    SigningKey,
    SigningKeys,
    Storage,
    secret_id,
)
from idgate.storage.static import StaticStorage

__all__ = [
    "AccessToken",
    "AuthCode",
    "AuthRequest",
    "Claims",
    "Client",
    "DeviceRequest",
    "DeviceToken",
    "GarbageCollected",
    "LoginSession",
    "Password",
    "Record",
    "RefreshToken",
    "SigningKey",
    "SigningKeys",
    "StaticStorage",
    "Storage",
    "open_storage",
    "secret_id",
]

#: storage URL scheme -> backend family (one explicit registry).
SCHEMES = ("sqlite", "postgresql", "postgres")


async def open_storage(url: str, *, pool_size: int = 10) -> Storage:
    """Open the storage a config URL names and bring its schema up to date.

    ``sqlite:///relative/path.db`` (directory created), ``sqlite:////absolute/path.db``,
    ``sqlite:///:memory:``, ``postgresql://user@host:5432/db``. ``pool_size`` is the number of
    PostgreSQL connections per process (``idgate.storage_pool_size``). Close it with
    ``await storage.close()``.
    """
    from idgate.storage.sql import open_sql  # SQLAlchemy is imported only when storage is opened

    return await open_sql(url, pool_size=pool_size)

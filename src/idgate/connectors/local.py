"""The ``local`` connector: Dex's password database (``staticPasswords``), bcrypt-checked.

It is also a refresh connector: at refresh time the user must still exist (an account deleted with
``idgate user delete`` loses access at its next refresh).

The email is matched case-insensitively. bcrypt runs on a pool of one thread per core (it takes tens of
milliseconds by design and releases the GIL; :func:`hashing`), never on the event loop, and runs even for
an unknown email, against a dummy hash of the same cost, so the answer time
does not tell whether an account exists. Dex's hashes come from Go (``$2a$``) or PHP/htpasswd
(``$2y$``); ``$2y$`` is the same algorithm as ``$2b$`` and is checked as such.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TypeVar

import bcrypt

from idgate.connectors.base import Connector, ConnectorServices, ConnectorType, Identity
from idgate.connectors.email import checked_email
from idgate.connectors.errors import LoginRefused
from idgate.errors import Loc, NotFound
from idgate.settings import ConnectorSettings
from idgate.storage.base import Password, Storage
from idgate.threads import CorePool

CONNECTOR_ID = "local"
_DEFAULT_COST = 10
T = TypeVar("T")

_HASHING = CorePool("idgate-bcrypt")


async def hashing(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on the password-hashing pool: one thread per core, so a burst of logins queues there
    (each bcrypt keeps a core busy) instead of taking the threads other blocking work needs."""
    return await _HASHING.run(fn, *args)


def normalise_hash(hashed: str | bytes) -> bytes:
    """A bcrypt hash the ``bcrypt`` library accepts (``$2y$`` -> ``$2b$``)."""
    raw = hashed.encode("ascii") if isinstance(hashed, str) else hashed
    raw = raw.strip()
    if raw.startswith(b"$2y$"):
        raw = b"$2b$" + raw[4:]
    return raw


def check_password(password: str, hashed: str | bytes) -> bool:
    """bcrypt check; a malformed hash never matches (and never raises)."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), normalise_hash(hashed))
    except ValueError:
        return False


def _cost(hashed: str) -> int:
    with contextlib.suppress(ValueError, IndexError):
        return int(hashed.split("$")[2])
    return _DEFAULT_COST


def _open(entry: ConnectorSettings, config: None, services: ConnectorServices, at: Loc) -> Connector:
    return LocalConnector(services.storage, id=entry.id, name=entry.name or "Email")


#: ``local`` takes no ``config`` keys, so it needs no model (and a server with only local connectors
#: never loads pydantic).
TYPE: ConnectorType[None] = ConnectorType(name="local", config=None, open=_open)


class LocalConnector:
    """Passwords from storage (the static overlay holds ``dex.staticPasswords``)."""

    def __init__(self, storage: Storage, id: str = CONNECTOR_ID, name: str = "Email") -> None:
        self._storage = storage
        self._id = id
        self._name = name
        self._dummy: bytes | None = None

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def prompt(self) -> str:
        return "Email Address"

    async def prepare(self) -> None:
        """Compute the dummy hash ahead of the first unknown email (so that one is not slower)."""
        await self._dummy_hash()

    async def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            stored = await self._storage.list(Password)
            cost = _cost(stored[0].hash) if stored else _DEFAULT_COST
            salt = bcrypt.gensalt(rounds=max(4, min(cost, 31)))
            self._dummy = await hashing(bcrypt.hashpw, b"idgate-dummy", salt)
        return self._dummy

    async def refresh(self, scopes: tuple[str, ...], identity: Identity) -> Identity:
        """The user as stored now; :class:`LoginRefused` when the account was deleted.

        The account is looked up by its email first (one read; the usual case); only when that is gone or
        now belongs to someone else are all accounts searched for the user id."""
        if identity.email:
            try:
                found: Password | None = await self._storage.get(Password, identity.email.strip().lower())
            except NotFound:
                found = None
            if found is not None and found.user_id == identity.user_id:
                return self._identity(found)
        for record in await self._storage.list(Password):
            if record.user_id == identity.user_id:
                return self._identity(record)
        raise LoginRefused("the account no longer exists")

    @staticmethod
    def _identity(record: Password) -> Identity:
        return Identity(
            user_id=record.user_id,
            username=record.username,
            email=checked_email(record.email, "the local account"),
            email_verified=True,
            preferred_username=record.username,
        )

    async def login(self, scopes: tuple[str, ...], username: str, password: str) -> Identity | None:
        try:
            record: Password | None = await self._storage.get(Password, username.strip().lower())
        except NotFound:
            record = None
        hashed = record.hash.encode("ascii") if record is not None else await self._dummy_hash()
        ok = await hashing(check_password, password, hashed)
        if record is None or not ok:
            return None
        return self._identity(record)

"""What the provider keeps, and the one protocol every backend implements.

Records are frozen dataclasses; a backend stores each kind in its own table, keyed by ``id``. Secrets
never appear in a record: codes and tokens are looked up by ``sha256(secret)`` (see :func:`secret_id`),
so a leaked database does not leak a usable code or token.

A change to a stored record goes through :meth:`Storage.update`, which runs a pure function on the current
record inside one transaction (Dex's ``UpdateX(id, func)``): the function sees the latest state and may
raise to refuse the change (for example an authorization code that was already redeemed), in which case
nothing is written. Concurrent updates of one record are serialised; exactly one wins each round and the
others run again on what it wrote.

Expired records are removed by :meth:`Storage.garbage_collect`, which takes the time as an input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar, runtime_checkable


def secret_id(secret: str) -> str:
    """The id under which a code or token is stored: hex SHA-256 of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claims:
    """Who logged in, as a connector reported it (Dex's ``storage.Claims``)."""

    user_id: str
    username: str
    email: str
    email_verified: bool
    preferred_username: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Client:
    """An OAuth client. ``secret`` is compared in constant time; public clients have none."""

    KIND: ClassVar[str] = "client"

    id: str
    secret: str
    name: str = ""
    redirect_uris: tuple[str, ...] = ()
    public: bool = False
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Password:
    """A local user of the ``local`` connector; ``id`` is the lower-cased email."""

    KIND: ClassVar[str] = "password"

    id: str
    email: str
    hash: str  # bcrypt, as Dex keeps it ($2a$ / $2b$ / $2y$)
    username: str
    user_id: str
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A pending login: the validated ``/auth`` parameters, waiting for the person to authenticate.

    ``browser`` is ``sha256`` of the browser-binding cookie set with the login form, so the form cannot be
    completed from another browser.
    """

    KIND: ClassVar[str] = "auth_request"

    id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    connector_id: str
    browser: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class AuthCode:
    """An issued authorization code (RFC 6749 §4.1.2); ``id`` is ``secret_id(code)``.

    ``redeemed_at`` is set by the single successful redemption; the record stays until it expires so a
    second redemption is recognised as a replay.
    """

    KIND: ClassVar[str] = "auth_code"

    id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    nonce: str
    code_challenge: str
    code_challenge_method: str
    connector_id: str
    claims: Claims
    issued_at: float
    expires_at: float
    redeemed_at: float | None = None


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An opaque bearer token for ``/userinfo``; ``id`` is ``secret_id(token)``."""

    KIND: ClassVar[str] = "access_token"

    id: str
    client_id: str
    scopes: tuple[str, ...]
    connector_id: str
    claims: Claims
    issued_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One JOSE signing key. ``private_pem`` never leaves storage except into the signer."""

    kid: str
    alg: str
    private_pem: str
    created_at: float
    # After this time the key no longer signs; it stays published until ``retire_at``.
    signs_until: float | None = None
    retire_at: float | None = None


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The provider's key set, one record (``id="signing"``) so rotation is one transactional update.

    ``keys[0]`` signs; every key in ``keys`` is published in the JWKS.
    """

    KIND: ClassVar[str] = "signing_keys"
    SINGLETON: ClassVar[str] = "signing"

    id: str
    keys: tuple[SigningKey, ...]
    next_rotation: float
    expires_at: float | None = None


@runtime_checkable
class Record(Protocol):
    """What every stored record has: an id and, when it is temporary, an expiry (epoch seconds)."""

    KIND: ClassVar[str]

    @property
    def id(self) -> str: ...

    @property
    def expires_at(self) -> float | None: ...


R = TypeVar("R", bound=Record)

#: Every kind a backend must store (one table each).
RECORD_KINDS: tuple[type[Record], ...] = (
    Client,
    Password,
    AuthRequest,
    AuthCode,
    AccessToken,
    SigningKeys,
)


@dataclass(frozen=True, slots=True)
class GarbageCollected:
    """How many expired records of each kind :meth:`Storage.garbage_collect` removed."""

    removed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.removed.values())


class Storage(Protocol):
    """Where the provider keeps its state; every backend passes ``tests/conformance/storage.py``.

    Errors are from :mod:`idgate.errors`: :class:`~idgate.errors.NotFound`,
    :class:`~idgate.errors.AlreadyExists`, :class:`~idgate.errors.Conflict` (after retries), otherwise
    :class:`~idgate.errors.StorageError`. Exceptions raised by an ``update`` function propagate unchanged
    and nothing is written.
    """

    async def create(self, record: Record) -> None:
        """Store a new record; :class:`~idgate.errors.AlreadyExists` if its id is taken."""
        ...

    async def get(self, kind: type[R], id: str) -> R:
        """The record of ``kind`` with ``id`` (expired or not); :class:`~idgate.errors.NotFound`."""
        ...

    async def list(self, kind: type[R]) -> list[R]:
        """Every record of ``kind``, ordered by id."""
        ...

    async def update(self, kind: type[R], id: str, fn: Callable[[R], R]) -> R:
        """Replace the record with ``fn(current)`` in one transaction and return what was written."""
        ...

    async def delete(self, kind: type[R], id: str) -> None:
        """Remove the record; :class:`~idgate.errors.NotFound` if there is none (so a delete claims it)."""
        ...

    async def garbage_collect(self, now: float) -> GarbageCollected:
        """Remove every record whose ``expires_at`` is before ``now``."""
        ...

    async def close(self) -> None:
        """Release connections; the storage is unusable afterwards."""
        ...

"""What the provider keeps, and the one protocol every backend implements.

Records are frozen dataclasses; a backend stores each kind in its own table, keyed by ``id``. Secrets
never appear in a record: codes and tokens are looked up by ``sha256(secret)`` (see :func:`secret_id`),
so a leaked database does not leak a usable code or token.

A change to a stored record goes through :meth:`Storage.update`, which runs a pure function on the current
record inside one transaction (Dex's ``UpdateX(id, func)``): the function sees the latest state and may
raise to refuse the change (for example an authorization code that was already redeemed), in which case
nothing is written. Concurrent updates of one record are serialised; exactly one wins each round and the
others run again on what it wrote.

Some kinds are also looked up by other fields than ``id``: those fields are named in the kind's
``INDEXES`` and a backend keeps them in indexed columns, for :meth:`Storage.find` and
:meth:`Storage.delete_where` (refresh tokens by owner and login session, access tokens by grant ...).

Expired records are removed by :meth:`Storage.garbage_collect`, which takes the time as an input and
runs in one replica at a time.

Records::

    Client         an OAuth client (``dex.clients`` are laid over these by :mod:`.static`)
    Password       a user of the ``local`` connector (``dex.staticPasswords`` likewise)
    AuthRequest    a pending login (validated ``/auth`` parameters), bound to one browser
    AuthCode       an issued authorization code, kept until it expires so a replay is recognised
    AccessToken    an opaque bearer token (for ``/userinfo`` and introspection)
    RefreshToken   one refresh token *family* (Dex's offline session, one per login and device):
                   the current secret's hash, the spent one's, the identity and connector data
    LoginSession   the provider's single sign-on session (its cookie's hash is the id)
    DeviceRequest  a device authorization waiting for its user code (RFC 8628), id = the user code
    DeviceToken    the device code's side of it: pending, approved, denied or delivered
    SigningKeys    the key set: the signer, the next key, and retired keys still published
    LoginFailures  failed password logins of one account or one client address (login throttling)
    SecondFactor   a local user's TOTP secret, its last accepted step and the unused recovery codes

Besides the records, the revocation list of proxy sessions (:meth:`Storage.revoke_session`,
:meth:`Storage.revoked_sessions`): ids signed out, each until a cookie holding it would have expired, read
by every proxy process every two seconds (:mod:`idgate.sessions.revocations`).
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol, TypeVar, runtime_checkable


def indexes(kind: type[Record]) -> tuple[str, ...]:
    """The fields of ``kind`` that :meth:`Storage.find` may match on."""
    found: tuple[str, ...] = getattr(kind, "INDEXES", ())
    return found


def check_indexed(kind: type[Record], equals: dict[str, str]) -> None:
    """Refuse a lookup on a field that is not indexed (a programming error)."""
    unknown = set(equals) - set(indexes(kind))
    if unknown or not equals:
        raise ValueError(f"{kind.KIND}: not indexed: {sorted(unknown) or 'no field given'}")


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
    # Clients that may ask for tokens with this client in their audience (Dex's ``trustedPeers``).
    trusted_peers: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    # Connector ids this client may log in with; empty: every connector.
    allowed_connectors: tuple[str, ...] = ()
    # PKCE is required unless this is False; a public client always needs it.
    require_pkce: bool = True

    @property
    def pkce_required(self) -> bool:
        return self.require_pkce or self.public


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
class PasswordPassed:
    """The password step of a pending login passed, for a user with a :class:`SecondFactor`: who it
    was, waiting (until ``until``) for their code. The login is not finished, nothing was issued."""

    login: str  # the login name as typed (the throttle's account key)
    factor_id: str  # the SecondFactor's id
    claims: Claims
    connector_data: str
    until: float


@dataclass(frozen=True, slots=True)
class ApprovalPending:
    """The person authenticated; the approval screen (``dex.oauth2.skipApprovalScreen: false``, or
    ``prompt=consent``) waits, until ``until``, for them to grant or deny what the client asks. Nothing
    was issued yet; ``session_id`` is the SSO session the login started or reused."""

    claims: Claims
    connector_data: str
    session_id: str
    until: float


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
    response_type: str = "code"
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    # A login for a device authorization (RFC 8628): the user code it approves, instead of a code.
    device_user_code: str = ""
    # Set when the password was right and the user has a second factor (the code comes next).
    password_passed: PasswordPassed | None = None
    # Set when the person authenticated and the approval screen waits for their answer.
    approval_pending: ApprovalPending | None = None


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
    auth_time: float | None = None
    session_id: str = ""
    connector_data: str = ""
    # What the redemption issued (access tokens and refresh family share it): a replay revokes it.
    grant_id: str = ""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An opaque bearer token for ``/userinfo``; ``id`` is ``secret_id(token)``."""

    KIND: ClassVar[str] = "access_token"
    INDEXES: ClassVar[tuple[str, ...]] = ("grant_id", "session_id")

    id: str
    client_id: str
    scopes: tuple[str, ...]
    connector_id: str
    claims: Claims
    issued_at: float
    expires_at: float
    grant_id: str = ""
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One refresh token family (RFC 6749 §6, RFC 9700 §4.14): the token is ``<id>.<secret>``.

    Each use rotates the secret: ``secret_hash`` is the live one, ``previous_hash`` the one just spent
    (accepted again only within the reuse interval after ``rotated_at``). Any other secret presented
    with this id is a replay of an older spent token and ends the family. ``owner`` (client and
    subject) bounds how many families a user keeps per client; ``session_id`` lets logout end them.
    """

    KIND: ClassVar[str] = "refresh_token"
    INDEXES: ClassVar[tuple[str, ...]] = ("owner", "session_id")

    id: str
    client_id: str
    owner: str
    scopes: tuple[str, ...]
    nonce: str
    connector_id: str
    claims: Claims
    connector_data: str
    secret_hash: str
    created_at: float
    last_used_at: float
    expires_at: float | None
    previous_hash: str = ""
    rotated_at: float | None = None
    session_id: str = ""
    auth_time: float | None = None


@dataclass(frozen=True, slots=True)
class LoginSession:
    """The provider's single sign-on session; ``id`` is ``secret_id`` of its cookie."""

    KIND: ClassVar[str] = "login_session"

    id: str
    connector_id: str
    claims: Claims
    connector_data: str
    auth_time: float
    expires_at: float


DeviceStatus = Literal["pending", "approved", "denied", "delivered"]


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A device authorization waiting for a person (RFC 8628 §3.3); ``id`` is the user code."""

    KIND: ClassVar[str] = "device_request"

    id: str
    device_id: str  # secret_id(device_code)
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """The device code's state (RFC 8628 §3.4-3.5); ``id`` is ``secret_id(device_code)``."""

    KIND: ClassVar[str] = "device_token"

    id: str
    client_id: str
    scopes: tuple[str, ...]
    interval: int
    expires_at: float
    status: DeviceStatus = "pending"
    last_poll: float | None = None
    claims: Claims | None = None
    connector_id: str = ""
    connector_data: str = ""
    auth_time: float | None = None
    session_id: str = ""


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

    ``keys[0]`` signs; every key in ``keys`` and ``next`` is published in the JWKS. ``next`` signs after
    the next rotation, so relying parties have seen it before any token carries it.
    """

    KIND: ClassVar[str] = "signing_keys"
    SINGLETON: ClassVar[str] = "signing"

    id: str
    keys: tuple[SigningKey, ...]
    next_rotation: float
    expires_at: float | None = None
    next: SigningKey | None = None


@dataclass(frozen=True, slots=True)
class LoginFailures:
    """Failed password logins counted for one key (:mod:`idgate.provider.throttle`), shared by replicas.

    ``id`` is ``account:<sha256 of the canonical user name>`` or ``ip:<client address>``. The count
    restarts after the window that began at ``first_at``; ``locked_until`` is set when it reaches the
    limit. The record expires with the later of the window and the lockout.
    """

    KIND: ClassVar[str] = "login_failures"

    id: str
    failures: int
    first_at: float
    expires_at: float | None
    locked_until: float | None = None


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """A ``local`` user's TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s; :mod:`idgate.provider.totp`).

    ``id`` is the user's :class:`Password` id (the lower-cased email). ``secret`` (base32) must be read
    to check a code, so it is stored as it is, like the signing keys: protect the database
    (THREAT_MODEL.md). ``last_step`` is the time step of the last code accepted: a code of that step or
    an earlier one is refused (a replay). ``recovery_hashes`` are the SHA-256 of the recovery codes not
    used yet; a use removes its hash.
    """

    KIND: ClassVar[str] = "second_factor"

    id: str
    secret: str
    enrolled_at: float
    last_step: int = -1
    recovery_hashes: tuple[str, ...] = ()
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
    RefreshToken,
    LoginSession,
    DeviceRequest,
    DeviceToken,
    SigningKeys,
    LoginFailures,
    SecondFactor,
)


@dataclass(frozen=True, slots=True)
class GarbageCollected:
    """How many expired records of each kind :meth:`Storage.garbage_collect` removed."""

    removed: dict[str, int] = field(default_factory=dict)
    # Another replica held the collection lock: nothing was done this time.
    skipped: bool = False

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

    async def create(self, *records: Record) -> None:
        """Store new records, all in one transaction (all or none); :class:`~idgate.errors.AlreadyExists`
        if an id is taken."""
        ...

    async def get(self, kind: type[R], id: str) -> R:
        """The record of ``kind`` with ``id`` (expired or not); :class:`~idgate.errors.NotFound`."""
        ...

    async def list(self, kind: type[R]) -> list[R]:
        """Every record of ``kind``, ordered by id."""
        ...

    async def update(
        self,
        kind: type[R],
        id: str,
        fn: Callable[[R], R],
        *,
        create: Sequence[Record] = (),
        seen: R | None = None,
    ) -> R:
        """Replace the record with ``fn(current)`` in one transaction and return what was written.

        ``create``: new records stored in the same transaction (all or none: when ``fn`` raises or an
        id is taken, neither the update nor any of them is written). ``fn`` may run more than once
        (after a concurrent update); ``create`` is written once, with the update that succeeds.

        ``seen``: the record as the caller has just read it (a grant checks its code or refresh token
        before it issues anything). A backend may then run ``fn`` on it and write without reading the
        record again, if the stored record is still that one; when it is not, the update runs on the
        stored record as without ``seen``. Only a saving: the outcome is the same."""
        ...

    async def delete(self, kind: type[R], id: str) -> None:
        """Remove the record; :class:`~idgate.errors.NotFound` if there is none (so a delete claims it)."""
        ...

    async def find(self, kind: type[R], **equals: str) -> builtins.list[R]:
        """The records whose indexed fields (``kind.INDEXES``) equal ``equals``, ordered by id."""
        ...

    async def delete_where(self, kind: type[R], **equals: str) -> int:
        """Remove the records whose indexed fields equal ``equals``; how many were removed."""
        ...

    async def garbage_collect(self, now: float) -> GarbageCollected:
        """Remove every record whose ``expires_at`` is before ``now``.

        One replica at a time: when another holds the collection lock, return at once with
        ``skipped=True``.
        """
        ...

    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None:
        """Put the proxy session ``id`` on the revocation list until ``expires_at``.

        A second revocation of one id keeps the later of each time. Revocations that expired before
        ``revoked_at`` are removed in the same transaction (the list needs no garbage collection)."""
        ...

    async def revoked_sessions(self, since: float, now: float) -> builtins.list[tuple[str, float]]:
        """The revocations made at or after ``since`` and not expired at ``now``: ``(id, expires_at)``,
        ordered by id (``since`` 0: every live one)."""
        ...

    async def close(self) -> None:
        """Release connections; the storage is unusable afterwards."""
        ...

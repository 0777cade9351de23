"""The proxy's session record (who signed in, until when) and the :class:`SessionStore` protocol."""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from idgate.errors import IdgateError

_JSON = json.JSONDecoder()
_isfinite = math.isfinite


@dataclass(frozen=True, slots=True)
class Session:
    """An authenticated person at one deployment.

    ``user`` is the ID token's ``sub``; times are epoch seconds. Tokens are kept only when a
    feature needs them (refresh, ``pass_access_token``), so the cookie stays small. ``sid`` names the
    session from sign-in to sign-out (a refresh keeps it): sign-out revokes it (:mod:`.revocations`).
    Sessions sealed before it existed have none; the cookie store names them after their cookie.
    """

    user: str
    email: str
    email_verified: bool
    created_at: float
    expires_at: float
    preferred_username: str = ""
    groups: tuple[str, ...] = field(default_factory=tuple)
    id_token: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    sid: str = ""

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    # Short keys keep the sealed cookie small; the mapping is the wire format, change it with care.
    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "u": self.user,
            "e": self.email,
            "v": self.email_verified,
            "c": self.created_at,
            "x": self.expires_at,
        }
        if self.preferred_username:
            doc["p"] = self.preferred_username
        if self.groups:
            doc["g"] = list(self.groups)
        for key, value in (
            ("i", self.id_token),
            ("a", self.access_token),
            ("r", self.refresh_token),
            ("s", self.sid),
        ):
            if value:
                doc[key] = value
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Session:
        """Parse :meth:`to_bytes` output; raises ``ValueError`` on anything else."""
        try:
            text = raw.decode()
            doc, end = _JSON.raw_decode(text)
            if end != len(text):
                raise ValueError("trailing data")
            groups = doc.get("g", [])
            if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                raise ValueError("groups")
            created, expires = float(doc["c"]), float(doc["x"])
            if not (_isfinite(created) and _isfinite(expires)):
                raise ValueError("times")
            session = cls(  # positional: the fields' order (the hot path opens a cookie per request)
                str(doc["u"]),
                str(doc["e"]),
                doc["v"] is True,
                created,
                expires,
                str(doc.get("p", "")),
                tuple(groups),
                doc.get("i"),
                doc.get("a"),
                doc.get("r"),
                str(doc.get("s", "")),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError("not a session") from exc
        return session

    @classmethod
    def opened(cls, raw: bytes | None, now: float) -> Session | None:
        """The session in a store's decrypted ``raw`` bytes: ``None`` when there are none, they are not a
        session, or it expired (the one decision every store makes after opening its secret)."""
        if raw is None:
            return None
        try:
            session = cls.from_bytes(raw)
        except ValueError:
            return None
        return None if session.expired(now) else session


def new_session_id(random: Callable[[int], bytes] = os.urandom) -> str:
    """A fresh session id: 128 random bits, base64url (22 characters)."""
    return base64.urlsafe_b64encode(random(16)).rstrip(b"=").decode("ascii")


class Pending:
    """The answer of :meth:`SessionStore.peek` when only an awaited :meth:`SessionStore.fetch` can tell."""

    _instance: Pending | None = None

    def __new__(cls) -> Pending:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "PENDING"


PENDING = Pending()


class SessionStoreUnavailable(IdgateError):
    """The session store (Redis) cannot be reached; the edge answers 503 and tries again next time."""


@runtime_checkable
class SessionStore(Protocol):
    """Where a deployment keeps its sessions; the browser's cookie holds a *value* that leads to one.

    ``cookie`` (:mod:`.cookie_store`): the value is the sealed session itself. ``redis``
    (:mod:`.redis_store`): the value is a sealed ticket (session id + per-session key); the session lives
    sealed in Redis.
    Every method takes time as an input; ``fetch`` costs at most one round trip.
    """

    name: str  # the cookie's name

    def peek(self, value: str, now: float) -> Session | Pending | None:
        """Synchronous first look: the session, ``None`` (no valid session), or :data:`PENDING`."""

    async def fetch(self, value: str, now: float) -> Session | None:
        """The session ``value`` leads to, or ``None``; raises :class:`SessionStoreUnavailable`."""

    async def put(self, session: Session, now: float, value: str | None = None) -> str:
        """Keep ``session``; returns the cookie value (``value``'s own slot when given and kept)."""

    async def drop(self, value: str) -> None:
        """Forget the session ``value`` leads to (sign-out, refused refresh)."""

    async def lock(self, value: str, ttl: float) -> str | None:
        """Take the refresh lock of ``value``'s session for ``ttl`` seconds: a token, or ``None`` if taken."""

    async def unlock(self, value: str, token: str) -> None:
        """Release a lock taken by :meth:`lock`."""

    async def close(self) -> None:
        """Release connections."""

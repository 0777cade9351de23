"""The cookie session store: a :class:`Session` sealed into the deployment's cookie (OAuth2-Proxy's default).

One place decides how a session is read from and written to cookies; the edge's hot path (with its memo)
and the sign-in web app both use it. Keys rotate: the deployment's ``encryption_key`` seals, it and every
``previous_encryption_keys`` entry open (see ``docs/sessions.md``).

Sign-out ends a cookie session everywhere: :meth:`CookieSessions.drop` puts its id on the revocation
list (:mod:`.revocations`) and :meth:`CookieSessions.open` refuses a revoked id. A session sealed before
sessions had ids opens with an id derived from its sealed value (:func:`legacy_id`), so it is revoked
like any other: nobody is signed out by the upgrade.

The async methods make it a :class:`~idgate.sessions.base.SessionStore`; only ``drop`` may wait (for
the revocation's write to storage).
Opening and sealing are timed into ``idgate_session_store_duration_seconds{store="cookie"}``
(:mod:`idgate.durations`: two ``perf_counter`` calls and a bucket increment, ~0.2 µs of a 12-18 µs open;
the edge's memo of verified cookies skips both).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import Mapping
from time import perf_counter

from idgate.clock import Clock
from idgate.durations import SESSION_STORE
from idgate.sessions.base import Pending, Session
from idgate.sessions.revocations import Revocations
from idgate.sessions.sealing import (
    MAX_SEALED,
    Sealer,
    SessionTooLarge,
    chunk_names,
    deflate,
    inflate,
    join_chunks,
    split_chunks,
)
from idgate.settings import ProxySettings

SESSION_PURPOSE = "session"


def deployment_keys(proxy: ProxySettings) -> list[bytes]:
    """The deployment's secrets, newest first: ``encryption_key`` then ``previous_encryption_keys``."""
    return [proxy.encryption_key, *(k for k in proxy.previous_encryption_keys if k)]


def legacy_id(sealed: str) -> str:
    """The id of a session sealed without one: from SHA-256 of its sealed value (as long as a new id)."""
    digest = hashlib.sha256(sealed.encode("latin-1")).digest()[:16]
    return "v0" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class CookieSessions:
    """Reads and writes one deployment's session cookie (``<name>_oauth2_proxy`` and its chunks).

    ``revocations``: the process's revocation list (a private, empty one when not given).
    """

    def __init__(self, proxy: ProxySettings, clock: Clock, revocations: Revocations | None = None) -> None:
        self.name = proxy.session_cookie
        self._sealer = Sealer(deployment_keys(proxy), SESSION_PURPOSE)
        self._clock = clock
        self._lifetime = proxy.cookie_expire
        self.revocations = revocations if revocations is not None else Revocations()
        self._revoked = self.revocations.ids
        self._load = SESSION_STORE.timer("cookie", "load")
        self._save = SESSION_STORE.timer("cookie", "save")

    def open(self, sealed: str, now: float) -> Session | None:
        """The session in one (reassembled) cookie value; ``None`` if altered, malformed, expired or
        revoked."""
        started = perf_counter()
        try:
            plain = self._sealer.open(sealed, self.name)
            session = None if plain is None else Session.opened(inflate(plain), now)
        finally:
            self._load.observe(perf_counter() - started)
        if session is None:
            return None
        if not session.sid:
            session = dataclasses.replace(session, sid=legacy_id(sealed))
        return None if session.sid in self._revoked else session

    def load(self, cookies: Mapping[str, str]) -> Session | None:
        """The session carried by a request's cookies, or ``None``."""
        sealed = join_chunks(cookies, self.name)
        return None if sealed is None else self.open(sealed, self._clock.now())

    def save(self, session: Session) -> list[tuple[str, str]]:
        """The ``(cookie name, value)`` pairs to set for ``session``."""
        return split_chunks(self.name, self.seal(session))

    def seal(self, session: Session) -> str:
        """The cookie value for ``session`` (before chunking), its bytes deflated when long.

        Raises :class:`~idgate.sessions.sealing.SessionTooLarge` when even so it needs more cookies than a
        browser is given (the sign-in answers a page; the operator is told to use Redis sessions).
        """
        started = perf_counter()
        try:
            sealed = self._sealer.seal(deflate(session.to_bytes()), self.name)
        finally:
            self._save.observe(perf_counter() - started)
        if len(sealed) > MAX_SEALED:
            raise SessionTooLarge(len(sealed))
        return sealed

    def names_to_clear(self, cookies: Mapping[str, str]) -> list[str]:
        """Every cookie of this store the browser holds (for sign-out, or before saving anew)."""
        return chunk_names(cookies, self.name)

    # -- SessionStore -----------------------------------------------------------------------------
    def peek(self, value: str, now: float) -> Session | Pending | None:
        return self.open(value, now)

    async def fetch(self, value: str, now: float) -> Session | None:
        return self.open(value, now)

    async def put(self, session: Session, now: float, value: str | None = None) -> str:
        return self.seal(session)

    async def drop(self, value: str) -> None:
        """Revoke the session ``value`` holds (the caller clears the browser's cookies): refused here at
        once, in every process sharing the list within seconds, until every cookie with its id expired."""
        now = self._clock.now()
        session = self.open(value, now)
        if session is not None:
            until = max(session.expires_at, now + self._lifetime)
            await self.revocations.revoke(session.sid, until, now)

    async def lock(self, value: str, ttl: float) -> str | None:
        """Always granted: the cookie store's single flight is per process (:mod:`.refresh`)."""
        return os.urandom(8).hex()

    async def unlock(self, value: str, token: str) -> None:
        """Nothing to release."""

    async def close(self) -> None:
        """Nothing to close."""

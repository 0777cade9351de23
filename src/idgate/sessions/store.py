"""The cookie session store: a :class:`Session` sealed into the deployment's cookie (OAuth2-Proxy's default).

One place decides how a session is read from and written to cookies; the edge's hot path (with its memo)
and the sign-in web app both use it. Keys rotate: the deployment's ``encryption_key`` seals, it and every
``previous_encryption_keys`` entry open (see ``docs/sessions.md``).

The async methods make it a :class:`~idgate.sessions.base.SessionStore`; they never wait for anything.
Opening and sealing are timed into ``idgate_session_store_duration_seconds{store="cookie"}``
(:mod:`idgate.durations`: two ``perf_counter`` calls and a bucket increment, ~0.2 µs of a 12-18 µs open;
the edge's memo of verified cookies skips both).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from time import perf_counter

from idgate.clock import Clock
from idgate.durations import SESSION_STORE
from idgate.sessions.base import Pending, Session
from idgate.sessions.cookie import (
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


class CookieSessions:
    """Reads and writes one deployment's session cookie (``<name>_oauth2_proxy`` and its chunks)."""

    def __init__(self, proxy: ProxySettings, clock: Clock) -> None:
        self.name = proxy.session_cookie
        self._sealer = Sealer(deployment_keys(proxy), SESSION_PURPOSE)
        self._clock = clock
        self._load = SESSION_STORE.timer("cookie", "load")
        self._save = SESSION_STORE.timer("cookie", "save")

    def open(self, sealed: str, now: float) -> Session | None:
        """The session in one (reassembled) cookie value; ``None`` if altered, malformed or expired."""
        started = perf_counter()
        try:
            plain = self._sealer.open(sealed, self.name)
            return None if plain is None else Session.opened(inflate(plain), now)
        finally:
            self._load.observe(perf_counter() - started)

    def load(self, cookies: Mapping[str, str]) -> Session | None:
        """The session carried by a request's cookies, or ``None``."""
        sealed = join_chunks(cookies, self.name)
        return None if sealed is None else self.open(sealed, self._clock.now())

    def save(self, session: Session) -> list[tuple[str, str]]:
        """The ``(cookie name, value)`` pairs to set for ``session``."""
        return split_chunks(self.name, self.seal(session))

    def seal(self, session: Session) -> str:
        """The cookie value for ``session`` (before chunking), its bytes deflated when long.

        Raises :class:`~idgate.sessions.cookie.SessionTooLarge` when even so it needs more cookies than a
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
        """Nothing to forget: the browser holds the session; the caller clears its cookies."""

    async def lock(self, value: str, ttl: float) -> str | None:
        """Always granted: the cookie store's single flight is per process (:mod:`.refresh`)."""
        return os.urandom(8).hex()

    async def unlock(self, value: str, token: str) -> None:
        """Nothing to release."""

    async def close(self) -> None:
        """Nothing to close."""

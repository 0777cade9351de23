"""Revoked sessions: a signed-out cookie is refused by every process and replica within seconds.

A cookie session *is* its cookie: clearing it in the browser does nothing to a copy taken before. So
sign-out (and a refresh that ends a session) puts the session's id (:attr:`Session.sid
<idgate.sessions.base.Session.sid>`) on a revocation list, and every process refuses a session whose id
is on it::

    sign-out in process A ──> Revocations.revoke(sid)  ──> A's own set at once
                                                        ──> storage.revoke_session (idgate.storage)
    every process, every POLL_INTERVAL s ──> storage.revoked_sessions(since) ──> its own set
    each request (edge, hot path)        ──> ``sid in ids``: one dict look-up, memo hits included

Where the list is shared: ``idgate.storage`` (SQLite or PostgreSQL, the provider's tables). Workers of one
host share a SQLite file; replicas must share PostgreSQL. Without storage (``Revocations(None)``) the list
is this process's only, and a copy of the cookie still works in other processes: ``idgate check`` warns
where that applies. Redis sessions need none of this: sign-out deletes the session in Redis.

An id stays on the list until every cookie that may carry it has expired: ``cookie_expire`` after the
revocation (a refresh keeps the id and makes a cookie that lasts ``cookie_expire`` again, but a revoked
session is never refreshed), plus :data:`MARGIN`. Each poll reads again the revocations of the last
:data:`LOOKBACK` seconds, so a write that commits after a later one, or whose writer's clock runs a little
behind, is not missed.

A write that fails (storage unreachable) is kept and written again at each poll until it succeeds; the
revocation holds in this process meanwhile. A poll that fails is logged once per outage and tried again.
Time is an input; the poller (:meth:`Revocations.run`) is started by the worker
(:mod:`idgate.runtime.worker`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from idgate.errors import StorageError

log = logging.getLogger("idgate.sessions")

#: How often each process reads the revocations made elsewhere (the "within seconds" of sign-out).
POLL_INTERVAL = 2.0
#: Each poll reads the revocations of this many seconds before the previous poll again.
LOOKBACK = 60.0
#: An id is kept this long past the expiry of the last cookie that may carry it.
MARGIN = 120.0
#: Revocations not written yet (storage unreachable) kept for writing again, at most.
MAX_UNSENT = 100_000


class RevocationStore(Protocol):
    """The shared list (:class:`~idgate.storage.base.Storage` has these two methods)."""

    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None: ...

    async def revoked_sessions(self, since: float, now: float) -> list[tuple[str, float]]: ...


class Revocations:
    """The revoked session ids of this process (``ids``: id -> until when), kept in step with ``shared``.

    ``ids`` is one dict for the process's life (the edge holds a reference to it): it is only ever
    changed in place.
    """

    def __init__(self, shared: RevocationStore | None = None) -> None:
        self.ids: dict[str, float] = {}
        self.shared = shared
        self._since: float | None = None  # the time of the last successful poll
        self._unsent: dict[str, tuple[float, float]] = {}  # id -> (revoked_at, until)
        self._failing = False

    def revoked(self, sid: str) -> bool:
        return sid in self.ids

    def here(self, sid: str, until: float) -> None:
        """Refuse ``sid`` in this process only, at once: a session deleted from Redis at sign-out, which
        this process's edge may still hold in its memo (other processes' memos of it end within
        :data:`idgate.edge.gate.STATEFUL_MEMO_SECONDS`, and then Redis has no such session)."""
        if sid:
            self.ids[sid] = max(until, self.ids.get(sid, until))

    async def revoke(self, sid: str, until: float, now: float) -> None:
        """Revoke ``sid`` until ``until`` (+ :data:`MARGIN`): here at once, everywhere after the next poll
        of each process. Never raises for the storage: a failed write is kept and tried again."""
        if not sid:
            return
        until += MARGIN
        self.ids[sid] = max(until, self.ids.get(sid, until))
        if self.shared is None:
            return
        try:
            await self.shared.revoke_session(sid, now, until)
        except StorageError as exc:
            if len(self._unsent) < MAX_UNSENT:
                self._unsent[sid] = (now, until)
            log.warning(
                "sign-out: the revocation could not be written to storage (%s); it holds in this "
                "process now and is written when storage answers again",
                exc,
                extra={"event": "revocation", "result": "deferred"},
            )

    async def poll(self, now: float) -> None:
        """Write what could not be written, read what others revoked, forget what expired.

        Raises :class:`~idgate.errors.StorageError` when storage cannot be reached (nothing is lost).
        """
        self._prune(now)
        if self.shared is None:
            return
        for sid, (revoked_at, until) in list(self._unsent.items()):
            await self.shared.revoke_session(sid, revoked_at, until)
            del self._unsent[sid]
        since = 0.0 if self._since is None else max(0.0, self._since - LOOKBACK)
        for sid, until in await self.shared.revoked_sessions(since, now):
            if until > self.ids.get(sid, 0.0):
                self.ids[sid] = until
        self._since = now

    def _prune(self, now: float) -> None:
        expired = [sid for sid, until in self.ids.items() if until <= now]
        for sid in expired:
            del self.ids[sid]

    async def run(self, now: Callable[[], float], interval: float = POLL_INTERVAL) -> None:
        """Poll every ``interval`` seconds until cancelled (the first poll loads every live revocation)."""
        while True:
            try:
                await self.poll(now())
            except StorageError as exc:
                if not self._failing:
                    log.warning(
                        "revocations: storage cannot be read (%s); sign-outs made in other processes "
                        "are not seen here until it answers again",
                        exc,
                        extra={"event": "revocation", "result": "error"},
                    )
                self._failing = True
            else:
                if self._failing:
                    log.info("revocations: storage answers again", extra={"event": "revocation"})
                self._failing = False
            await asyncio.sleep(interval)

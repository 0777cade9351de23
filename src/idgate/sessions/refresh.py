"""Refreshing sessions after ``cookie_refresh``: once, even when many requests arrive together.

::

    request with a session older than cookie_refresh ──> Refresher.refresh(value, session, now)
        same value already refreshing in this process? ──> wait for that one (single flight, .flight)
        refreshed in the last RECENT seconds?         ──> that result (requests sent with the old cookie)
        store.lock(value) refused (another process)   ──> keep the current, still valid session
        renew(session) ──> new session   ──> store.put (cookie: a new value to set; redis: same slot)
                                         ──> SessionTooLarge (cookie) ──> the session ends, logged as an error
                       ──> RefusedRefresh ──> store.drop: the session ends (sign in again)
                       ──> any other error ──> keep the current session, try again later, until
                                               ``grace`` past the refresh point; then it ends too

``renew`` is the provider call (refresh-token grant; groups re-read from the new ID token, so a person
removed from a team loses access at the next refresh). It raises :class:`RefusedRefresh` for every answer
that must end the session: the provider refused the refresh token (``invalid_grant``), or its answer is
not acceptable (an ID token with a bad signature or the wrong ``iss``, ``aud``, ``sub`` or times, no
verified email). Any other error is the provider being unreachable (refused connection, timeout, 5xx):
the person keeps the identity of the last good answer for at most ``grace`` (``refresh_grace``, default
:data:`DEFAULT_GRACE`) after the session was due, so removed groups take effect by then at the latest.
The ended session is dropped from the store (cookie sessions: revoked, :mod:`.revocations`); the edge
clears the cookie and sends the person to sign in (302, or 401 for an API client).

The cookie store has no shared lock: its single flight holds per process. Time is an input.

Each refresh that ran (the lock was taken) writes one record on ``idgate.sessions`` with
``event: refresh``, ``deployment``, ``result`` and ``duration_ms``: ``success``; ``refused``: the provider
refused or answered something invalid, the session ended; ``error``: provider or store unreachable, the
session is kept; ``ended``: still unreachable ``grace`` after the refresh point, the session ended. The
metrics ``idgate_refreshes_total{role="proxy",result}`` and ``idgate_refresh_duration_seconds{result}``
count them (:mod:`idgate.runtime.metrics`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from idgate.sessions.base import Session, SessionStore, SessionStoreUnavailable
from idgate.sessions.flight import SingleFlight
from idgate.sessions.sealing import SessionTooLarge

log = logging.getLogger("idgate.sessions")

LOCK_TTL = 30.0
#: How long the result of a refresh answers requests that still carry the cookie it replaced.
RECENT = 30.0
#: How long past its refresh point a session is kept while the provider cannot be reached (5 min).
DEFAULT_GRACE = 300.0


class RefusedRefresh(Exception):
    """The provider refused the refresh, or answered something invalid: the session must end."""


Renew = Callable[[Session, float], Awaitable[Session]]


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What a refresh gave: the session to use (``None``: ended) and a new cookie value, if any."""

    session: Session | None
    value: str | None = None


class Refresher:
    """Refreshes one deployment's sessions through ``renew``, ``refresh_after`` seconds after sign-in."""

    def __init__(
        self,
        store: SessionStore,
        renew: Renew,
        refresh_after: float,
        deployment: str = "",
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self.store = store
        self.renew = renew
        self.refresh_after = refresh_after
        self.deployment = deployment
        self.grace = grace
        self._flight: SingleFlight[Refreshed] = SingleFlight()
        self._recent: dict[str, tuple[float, Refreshed]] = {}

    def due_at(self, session: Session) -> float:
        """When ``session`` should be refreshed (infinity: never; no refresh token, or refresh off)."""
        if self.refresh_after <= 0 or not session.refresh_token:
            return float("inf")
        return session.created_at + self.refresh_after

    async def refresh(self, value: str, session: Session, now: float) -> Refreshed:
        """Refresh the session behind cookie value ``value`` (see the module docstring)."""
        recent = self._recent.get(value)
        if recent is not None and now < recent[0]:
            return recent[1]
        return await self._flight.run(value, lambda: self._refresh_once(value, session, now))

    async def _refresh_once(self, value: str, session: Session, now: float) -> Refreshed:
        result = await self._refresh(value, session, now)
        self._remember(value, result, now)
        return result

    async def _refresh(self, value: str, session: Session, now: float) -> Refreshed:
        token = await self.store.lock(value, LOCK_TTL)
        if token is None:
            return Refreshed(session)  # another process refreshes it; this one is still valid
        started = time.perf_counter()
        result, problem = "error", "interrupted"
        try:
            try:
                fresh = await self.renew(session, now)
            except RefusedRefresh as exc:
                result, problem = "refused", str(exc) or "refused"
                await self.store.drop(value)
                return Refreshed(None)
            except SessionStoreUnavailable:
                raise
            except Exception as exc:  # the provider cannot be reached: keep the session, for a while
                why = str(exc) or type(exc).__name__
                if now < self.due_at(session) + self.grace:
                    problem = f"keeping the session for at most {self.grace:.0f} s past its refresh: {why}"
                    return Refreshed(session)
                result, problem = "ended", f"ending the session, {self.grace:.0f} s past its refresh: {why}"
                await self.store.drop(value)
                return Refreshed(None)
            try:
                new_value = await self.store.put(fresh, now, value)
            except SessionTooLarge as exc:  # groups grew past what a cookie holds: sign in again (a page)
                problem = f"ending the session: {exc}; keep sessions in Redis (idgate.sessions: redis://...)"
                await self.store.drop(value)
                return Refreshed(None)
            result = "success"
            return Refreshed(fresh, None if new_value == value else new_value)
        except SessionStoreUnavailable as exc:
            problem = str(exc)
            raise
        finally:
            self._record(session, result, problem, time.perf_counter() - started)
            await self.store.unlock(value, token)

    def _record(self, session: Session, result: str, problem: str, seconds: float) -> None:
        """The refresh's one log record (and so its metrics)."""
        extra = {
            "event": "refresh",
            "deployment": self.deployment,
            "result": result,
            "duration_ms": round(seconds * 1000, 3),
        }
        if result == "success":
            log.info("session of %s refreshed", session.email, extra=extra)
        elif result == "refused":
            log.info(
                "session of %s ended: the provider refused the refresh or its answer is invalid (%s)",
                session.email,
                problem,
                extra=extra,
            )
        else:
            log.warning("refresh of %s failed, %s", session.email, problem, extra=extra)

    def _remember(self, value: str, result: Refreshed, now: float) -> None:
        if len(self._recent) > 10_000:
            self._recent = {k: v for k, v in self._recent.items() if v[0] > now}
        until = now + RECENT
        if result.session is not None:  # a session kept after an error is not kept past its grace
            until = min(until, self.due_at(result.session) + self.grace)
        self._recent[value] = (until, result)

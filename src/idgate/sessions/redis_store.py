"""The Redis session store (``session_store_type: redis``): a ticket in the cookie, the session in Redis.

::

    cookie <name>_oauth2_proxy = seal(ticket id + per-session key)        (:mod:`.ticket`)
    Redis  idgate:<deployment>:s:<id> = AES-GCM(per-session key, session)  PX = until the session expires
    Redis  idgate:<deployment>:l:<id> = lock token                        SET NX PX (refresh single flight)

:meth:`RedisSessions.fetch`, the read on every request the edge has not memoised, is one ``GET`` sent by
the lean pipelined client of :mod:`.resp` (hiredis parses the replies). The writes, at sign-in, refresh and
sign-out (``SET``, ``DEL``, the lock), go through redis-py; so does the read when the URL asks for an
option only redis-py takes (:func:`~idgate.sessions.resp.lean_address`). Both read the same URL, with the
same timeouts (1 s to connect, 1 s per command). Any Redis failure (refused, reset, timeout) becomes
:class:`~idgate.sessions.base.SessionStoreUnavailable`; both clients open a fresh connection on the next
command (and send a command once more, at once, when a connection that was open is found lost), so the
store recovers by itself when Redis is back.

Each round trip (``GET``, ``SET``, ``DEL``, the lock's ``SET NX`` and ``EVAL``) is timed into
``idgate_session_store_duration_seconds{store="redis",operation=load|save|delete|lock|unlock}``
(:mod:`idgate.durations`), failures included: a Redis that times out shows as observations near 1 s.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from time import perf_counter

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from idgate.durations import SESSION_STORE, Timer
from idgate.sessions.base import PENDING, Pending, Session, SessionStoreUnavailable
from idgate.sessions.cookie_store import deployment_keys
from idgate.sessions.resp import COMMAND_TIMEOUT, CONNECT_TIMEOUT, GetClient, lean_address
from idgate.sessions.ticket import Ticket, TicketSealer
from idgate.settings import ProxySettings

_UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisSessions:
    """One deployment's sessions in Redis at ``url`` (``redis://`` or ``rediss://``)."""

    def __init__(self, proxy: ProxySettings, url: str, *, client: Redis | None = None) -> None:
        """``client``: a redis-py client to use for every command instead of one built from ``url``."""
        self.name = proxy.session_cookie
        self._tickets = TicketSealer(deployment_keys(proxy), self.name)
        self._prefix = f"idgate:{proxy.name}:"
        self._redis = client or Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            retry_on_timeout=False,
            # One immediate retry on a fresh connection: a pooled connection to a Redis that restarted
            # fails once; the retry makes that invisible. A Redis that is down fails both at once.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[redis_errors.ConnectionError],
        )
        address = lean_address(url) if client is None else None
        self._reads = GetClient(address) if address is not None else None
        self._timers = {
            op: SESSION_STORE.timer("redis", op) for op in ("load", "save", "delete", "lock", "unlock")
        }

    def _key(self, ticket: Ticket) -> str:
        return self._prefix + "s:" + ticket.slot

    def peek(self, value: str, now: float) -> Session | Pending | None:
        return PENDING if self._tickets.open(value) is not None else None

    async def fetch(self, value: str, now: float) -> Session | None:
        ticket = self._tickets.open(value)
        if ticket is None:
            return None
        key = self._key(ticket).encode()
        reads = self._reads
        record = await self._call(
            self._redis.get(key) if reads is None else reads.get(key), self._timers["load"]
        )
        if not isinstance(record, bytes):
            return None
        return Session.opened(ticket.open_record(record, key), now)

    async def put(self, session: Session, now: float, value: str | None = None) -> str:
        ticket = self._tickets.open(value) if value else None
        if ticket is None:
            ticket = Ticket.new()
            value = self._tickets.seal(ticket)
        assert value is not None
        key = self._key(ticket)
        ttl_ms = max(1, int((session.expires_at - now) * 1000))
        record = ticket.seal_record(session.to_bytes(), key.encode())
        await self._call(self._redis.set(key, record, px=ttl_ms), self._timers["save"])
        return value

    async def drop(self, value: str) -> None:
        ticket = self._tickets.open(value)
        if ticket is not None:
            await self._call(self._redis.delete(self._key(ticket)), self._timers["delete"])

    async def lock(self, value: str, ttl: float) -> str | None:
        ticket = self._tickets.open(value)
        if ticket is None:
            return None
        token = os.urandom(8).hex()
        got = await self._call(
            self._redis.set(self._prefix + "l:" + ticket.slot, token, nx=True, px=max(1, int(ttl * 1000))),
            self._timers["lock"],
        )
        return token if got else None

    async def unlock(self, value: str, token: str) -> None:
        ticket = self._tickets.open(value)
        if ticket is not None:
            await self._call(
                self._redis.eval(_UNLOCK, 1, self._prefix + "l:" + ticket.slot, token), self._timers["unlock"]
            )

    async def close(self) -> None:
        if self._reads is not None:
            await self._reads.close()
        await self._redis.aclose()

    @staticmethod
    async def _call(awaitable: Awaitable[object], timer: Timer) -> object:
        """One round trip, timed; a redis-py failure becomes :class:`SessionStoreUnavailable` (the lean
        client raises it itself)."""
        started = perf_counter()
        try:
            return await awaitable
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            raise SessionStoreUnavailable(f"redis: {type(exc).__name__}") from exc
        finally:
            timer.observe(perf_counter() - started)

"""The Redis session store on the real Redis at 127.0.0.1:6379: the conformance suite, one GET per
lookup, TTLs, what Redis holds, and an outage (through a relay the test cuts) with recovery.
When Redis is unreachable these tests fail: they never skip."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from tests.conformance.sessions import NOW, SessionStoreConformance, alice, proxy, store_counts

from idgate.clock import FrozenClock
from idgate.sessions.base import PENDING, SessionStore, SessionStoreUnavailable
from idgate.sessions.redis_store import RedisSessions
from idgate.settings import ProxySettings

REDIS_URL = os.environ.get("IDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unique(p: ProxySettings) -> ProxySettings:
    import dataclasses

    return dataclasses.replace(p, name=f"{p.name}-{os.getpid()}-{id(p)}")


@pytest.fixture(autouse=True)
async def _redis_is_up() -> None:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} and is unreachable: {exc}")
    finally:
        await client.aclose()


class TestRedisStore(SessionStoreConformance):
    def make_store(self, proxy: ProxySettings, clock: FrozenClock) -> SessionStore:
        return RedisSessions(proxy, REDIS_URL)


async def test_peek_is_pending_without_a_round_trip_and_cookie_holds_no_session() -> None:
    store = RedisSessions(_unique(proxy()), REDIS_URL)
    try:
        value = await store.put(alice(email="secret-alice@example.com"), NOW)
        assert store.peek(value, NOW) is PENDING
        assert len(value) < 200
        raw = Redis.from_url(REDIS_URL)
        keys = [k async for k in raw.scan_iter(match=f"idgate:{store._prefix.split(':')[1]}:s:*")]
        assert len(keys) == 1
        record = await raw.get(keys[0])
        assert b"alice" not in record  # sealed with the per-session key
        ttl = await raw.pttl(keys[0])
        assert 0 < ttl <= 3600 * 1000
        await raw.aclose()
    finally:
        await store.close()


def _count_commands(store: RedisSessions, delay: float = 0.0) -> list[object]:
    """The commands ``store`` sends from now on (each delayed by ``delay`` seconds), as a list to read."""
    calls: list[object] = []
    real = store._redis.execute_command

    async def counting(*args: object, **kw: object) -> object:
        calls.append(args[0])
        if delay:
            await asyncio.sleep(delay)
        return await real(*args, **kw)

    store._redis.execute_command = counting  # type: ignore[method-assign]
    return calls


async def test_fetch_is_one_redis_command() -> None:
    store = RedisSessions(_unique(proxy()), REDIS_URL)
    try:
        value = await store.put(alice(), NOW)
        calls = _count_commands(store)
        assert await store.fetch(value, NOW) is not None
        assert calls == ["GET"]
    finally:
        await store.close()


async def test_sign_out_drop_removes_the_session() -> None:
    store = RedisSessions(_unique(proxy()), REDIS_URL)
    try:
        value = await store.put(alice(), NOW)
        await store.drop(value)
        assert await store.fetch(value, NOW) is None
    finally:
        await store.close()


async def test_second_lock_is_refused_until_released() -> None:
    store = RedisSessions(_unique(proxy()), REDIS_URL)
    try:
        value = await store.put(alice(), NOW)
        token = await store.lock(value, 5)
        assert token is not None
        assert await store.lock(value, 5) is None
        await store.unlock(value, "not-the-token")
        assert await store.lock(value, 5) is None
        await store.unlock(value, token)
        assert await store.lock(value, 5) is not None
    finally:
        await store.close()


async def test_every_round_trip_is_timed_by_operation() -> None:
    """``idgate_session_store_duration_seconds{store="redis"}``: one observation per command."""
    store = RedisSessions(_unique(proxy()), REDIS_URL)
    try:
        before = store_counts()
        value = await store.put(alice(), NOW)
        await store.fetch(value, NOW)
        token = await store.lock(value, 5)
        assert token is not None
        await store.unlock(value, token)
        await store.drop(value)
        store.peek(value, NOW)  # opens the ticket only: no round trip, not timed
        after = store_counts()
    finally:
        await store.close()
    moved = {
        op: after[("redis", op)] - before.get(("redis", op), 0)
        for op in ("load", "save", "lock", "unlock", "delete")
    }
    assert moved == {"load": 1, "save": 1, "lock": 1, "unlock": 1, "delete": 1}


class Relay:
    """A TCP relay to the real Redis that the test can cut and restore."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.conns: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", 6379)
        self.conns += [writer, up_w]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.conns:
            w.transport.abort()
        self.conns.clear()
        await self.server.wait_closed()


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    r = Relay()
    await r.start()
    yield r
    with contextlib.suppress(Exception):
        await r.cut()


async def test_redis_down_is_unavailable_then_recovers_without_restart(relay: Relay) -> None:
    store = RedisSessions(_unique(proxy()), f"redis://127.0.0.1:{relay.port}/0")
    try:
        value = await store.put(alice(), NOW)
        assert await store.fetch(value, NOW) is not None
        await relay.cut()
        loads = store_counts()[("redis", "load")]
        with pytest.raises(SessionStoreUnavailable):
            await store.fetch(value, NOW)
        assert store_counts()[("redis", "load")] == loads + 1  # a failed round trip is timed too
        with pytest.raises(SessionStoreUnavailable):
            await store.put(alice(), NOW)
        await relay.start()  # Redis is back on the same address
        assert await store.fetch(value, NOW) is not None
    finally:
        await store.close()


async def test_concurrent_requests_with_one_cookie_share_one_redis_read() -> None:
    """A dashboard's panels arrive together when the memo entry has ended: one GET serves them all."""
    import dataclasses

    from idgate.edge.gate import Gate

    gate = Gate(dataclasses.replace(_unique(proxy()), session_store=REDIS_URL))
    store = gate.store
    assert isinstance(store, RedisSessions)
    try:
        value = await store.put(alice(), NOW)
        calls = _count_commands(store, delay=0.05)  # a read in flight while the others arrive
        results = await asyncio.gather(*(gate.resolve(value, NOW, "https") for _ in range(50)))
        assert calls == ["GET"]
        assert {id(verified) for verified, _ in results} == {id(results[0][0])}
        assert results[0][0] is not None and results[0][0].session.email == alice().email
        assert gate.open(value, NOW + 1) is results[0][0]  # and the memo has it
        await asyncio.gather(*(gate.resolve(value, NOW, "https") for _ in range(3)))
        assert calls == ["GET", "GET"]  # a later read is a read of its own
    finally:
        await store.close()

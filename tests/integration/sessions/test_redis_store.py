"""The Redis session store on the real Redis at 127.0.0.1:6379: the conformance suite, one GET per
lookup (counted by a redis-server of the test's own), TTLs, what Redis holds, TLS, a Redis that never
answers, and an outage (through a relay the test cuts) with recovery. The lean read client itself:
test_resp.py. When Redis is unreachable these tests fail: they never skip."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from tests.conformance.sessions import NOW, SessionStoreConformance, alice, proxy, store_counts
from tests.fakes.tls import make_ca
from tests.integration.sessions.redis_server import RedisServer

from idgate.clock import FrozenClock
from idgate.sessions.base import PENDING, SessionStore, SessionStoreUnavailable
from idgate.sessions.redis_store import RedisSessions
from idgate.sessions.resp import CONNECTIONS
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, with a password, whose ``INFO commandstats`` counts only its
    commands."""
    s = RedisServer(tmp_path, password="store-secret")
    s.start()
    yield s
    s.stop()


def _moved(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


async def test_fetch_is_one_get_and_nothing_else_per_request(server: RedisServer) -> None:
    """Each of the reading connections says AUTH and SELECT once, when it opens; after that each fetch is
    one GET (the bench counts the same)."""
    store = RedisSessions(_unique(proxy()), server.url_for(db=2))
    try:
        value = await store.put(alice(), NOW)
        start = server.commands()
        for _ in range(CONNECTIONS):  # round robin: each connection opens at its first GET
            assert await store.fetch(value, NOW) is not None
        before = server.commands()
        assert _moved(start, before) == {"auth": CONNECTIONS, "select": CONNECTIONS, "get": CONNECTIONS}
        for _ in range(5):
            assert await store.fetch(value, NOW) is not None
        assert _moved(before, server.commands()) == {"get": 5}
    finally:
        await store.close()


async def test_a_url_option_only_redis_py_takes_still_reads_sessions(server: RedisServer) -> None:
    store = RedisSessions(_unique(proxy()), server.url_for(db=1) + "?health_check_interval=30")
    try:
        value = await store.put(alice(), NOW)
        assert (await store.fetch(value, NOW)) == alice()
    finally:
        await store.close()


async def test_sessions_over_tls_with_the_ca_in_the_url(tmp_path: Path) -> None:
    """Both clients (redis-py writes, the lean client reads) take ``rediss://...?ssl_ca_certs=``."""
    server = RedisServer(tmp_path, password="tls-secret", tls=make_ca(tmp_path / "tls", "redis test"))
    server.start()
    store = RedisSessions(_unique(proxy()), server.url)
    try:
        value = await store.put(alice(), NOW)
        assert await store.fetch(value, NOW) == alice()
        await store.drop(value)
        assert await store.fetch(value, NOW) is None
    finally:
        await store.close()
        server.stop()


async def test_a_redis_that_never_answers_is_unavailable_after_the_timeout() -> None:
    """Connected but silent (a hung Redis, a dropped network path): the request gets its 503, not a hang."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        writer.close()

    silent_server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = silent_server.sockets[0].getsockname()[1]
    p = _unique(proxy())
    writer = RedisSessions(p, REDIS_URL)  # a valid cookie value; the store that reads it finds no answer
    store = RedisSessions(p, f"redis://127.0.0.1:{port}/0")
    try:
        value = await writer.put(alice(), NOW)
        with pytest.raises(SessionStoreUnavailable, match=r"^redis: no reply within 1 s$"):
            await asyncio.wait_for(store.fetch(value, NOW), 10)  # a bound for the test only
    finally:
        await store.close()
        await writer.drop(value)
        await writer.close()
        silent_server.close()
        await silent_server.wait_closed()


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


async def test_concurrent_requests_with_one_cookie_share_one_redis_read(server: RedisServer) -> None:
    """A dashboard's panels arrive together when the memo entry has ended: one GET serves them all."""
    import dataclasses

    from idgate.edge.gate import Gate

    gate = Gate(dataclasses.replace(_unique(proxy()), session_store=server.url))
    store = gate.store
    assert isinstance(store, RedisSessions)
    try:
        value = await store.put(alice(), NOW)
        gets = server.calls("GET")
        with server.admin() as admin:
            admin.client_pause(100)  # a read in flight while the others arrive
        results = await asyncio.gather(*(gate.resolve(value, NOW, "https") for _ in range(50)))
        assert server.calls("GET") == gets + 1
        assert {id(verified) for verified, _ in results} == {id(results[0][0])}
        assert results[0][0] is not None and results[0][0].session.email == alice().email
        assert gate.open(value, NOW + 1) is results[0][0]  # and the memo has it
        await asyncio.gather(*(gate.resolve(value, NOW, "https") for _ in range(3)))
        assert server.calls("GET") == gets + 2  # a later read is a read of its own
    finally:
        await store.close()

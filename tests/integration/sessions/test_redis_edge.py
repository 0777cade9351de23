"""The edge with the Redis session store, on the real Redis (through a relay the test can cut):
the session comes from Redis, a Redis outage is a 503 page, and the edge recovers without a restart."""

from __future__ import annotations

import contextlib
import os

from tests.integration.sessions.test_redis_store import Relay
from tests.unit.edge.conftest import (
    NOW,
    Client,
    Upstream,
    _serve_app,
    alice,
    listening_socket,
    proxy_settings,
)

from idgate.clock import FrozenClock
from idgate.edge.routes import RouteTable
from idgate.edge.server import start_edge
from idgate.sessions.redis_store import RedisSessions
from idgate.settings import Settings


async def test_edge_reads_sessions_from_redis_503_when_down_and_recovers() -> None:
    relay = Relay()
    await relay.start()
    up = Upstream()
    runner = await _serve_app(up)
    url = f"redis://127.0.0.1:{relay.port}/0"
    p = proxy_settings(f"http://127.0.0.1:{up.port}", name=f"redis-edge-{os.getpid()}", session_store=url)
    writer = RedisSessions(p, url)
    value = await writer.put(alice(), NOW)
    clock = FrozenClock(NOW)
    sock = listening_socket()
    edge = await start_edge(
        Settings(proxies=(p,)),
        RouteTable.build(Settings(proxies=(p,)), provider_socket=None, signin_socket=None),
        clock,
        sock=sock,
    )
    client = await Client.open(sock.getsockname()[1])
    cookie = f"Cookie: {p.session_cookie}={value}\r\n"
    try:
        r = await client.get("/x", headers=cookie)
        assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        await relay.cut()
        clock.advance(3)  # past the per-process memo of Redis sessions
        r = await client.get("/x", headers=cookie)
        assert r.status == 503 and b"Service unavailable" in r.body
        await relay.start()
        r = await client.get("/x", headers=cookie)
        assert r.status == 200
        await writer.drop(value)  # sign-out elsewhere: gone once the memo lapses
        clock.advance(3)
        r = await client.get("/x", headers=cookie + "Accept: text/html\r\n")
        assert r.status == 302
    finally:
        await client.close()
        await edge.aclose(grace=0.5)
        await writer.close()
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await relay.cut()

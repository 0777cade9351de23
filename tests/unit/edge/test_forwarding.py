"""Forwarding: bodies streamed both ways, keep-alive pool, upstream failures, strict framing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket

import pytest
from tests.unit.edge.conftest import Client, Env, alice, read_response, seal

from idgate.edge.limits import EdgeLimits
from idgate.edge.pool import parse_upstream

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"


async def test_content_length_upload_is_streamed(env: Env, client: Client) -> None:
    body = bytes(range(256)) * (5 * 4096)  # 5 MiB
    await client.send(
        b"POST /upload HTTP/1.1\r\nHost: app.test\r\n"
        + AUTH.encode()
        + b"Content-Length: %d\r\n\r\n" % len(body)
    )
    for i in range(0, len(body), 1 << 20):
        await client.send(body[i : i + (1 << 20)])
    r = await asyncio.wait_for(read_response(client.reader), 10)
    assert r.status == 200
    assert r.json()["body_len"] == len(body)
    assert r.json()["body_sha"] == hashlib.sha256(body).hexdigest()


async def test_chunked_upload_is_streamed(env: Env, client: Client) -> None:
    parts = [b"a" * 100_000, b"b" * 7, b"c" * 1_000_000]
    wire = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    r = await client.request(
        b"PUT /up HTTP/1.1\r\nHost: app.test\r\n"
        + AUTH.encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + wire
    )
    assert r.status == 200
    assert r.json()["body_sha"] == hashlib.sha256(b"".join(parts)).hexdigest()


async def test_expect_continue_is_answered(env: Env, client: Client) -> None:
    await client.send(
        b"POST /e HTTP/1.1\r\nHost: app.test\r\n"
        + AUTH.encode()
        + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    r = await asyncio.wait_for(read_response(client.reader), 5)
    assert r.status == 100
    await client.send(b"hello")
    r = await asyncio.wait_for(read_response(client.reader), 5)
    assert r.status == 200 and r.json()["body_len"] == 5
    assert r.upstream_header("Expect") == []


async def test_large_chunked_response_is_streamed(env: Env, client: Client) -> None:
    r = await client.get("/big", headers=AUTH)
    assert r.status == 200
    assert r.header("Transfer-Encoding") == "chunked"
    assert len(r.body) == 48 * 65536


async def test_http10_client_gets_body_and_close(env: Env, client: Client) -> None:
    await client.send(b"GET /big HTTP/1.0\r\nHost: app.test\r\n" + AUTH.encode() + b"\r\n")
    r = await asyncio.wait_for(read_response(client.reader), 10)
    assert r.status == 200 and len(r.body) == 48 * 65536
    assert r.header("Transfer-Encoding") is None


async def test_http10_keep_alive(env: Env, client: Client) -> None:
    req = b"GET /a HTTP/1.0\r\nHost: app.test\r\nConnection: keep-alive\r\n" + AUTH.encode() + b"\r\n"
    r1 = await client.request(req)
    r2 = await client.request(req)
    assert (r1.status, r2.status) == (200, 200)
    assert r1.header("Connection") == "keep-alive"


async def test_head_request(env: Env, client: Client) -> None:
    r = await client.request(b"HEAD /h HTTP/1.1\r\nHost: app.test\r\n" + AUTH.encode() + b"\r\n", True)
    assert r.status == 200
    r = await client.get("/after-head", headers=AUTH)
    assert r.json()["raw_path"] == "/after-head"
    assert len(env.upstream.peers) == 1


async def test_upstream_connections_are_reused(env: Env) -> None:
    clients = [await Client.open(env.port) for _ in range(3)]
    for _ in range(5):
        for c in clients:
            assert (await c.get("/reuse", headers=AUTH)).status == 200
    for c in clients:
        await c.close()
    assert len(env.upstream.requests) == 15
    assert len(env.upstream.peers) == 1  # one client at a time: one pooled connection
    assert env.edge.pool.connects == 1


async def test_upstream_connection_close_is_respected(env: Env, client: Client) -> None:
    assert (await client.get("/close", headers=AUTH)).body == b"bye"
    assert (await client.get("/next", headers=AUTH)).status == 200
    assert len(env.upstream.peers) == 2


async def test_pipelined_requests_answered_in_order(env: Env, client: Client) -> None:
    reqs = b"".join(
        b"GET /p%d HTTP/1.1\r\nHost: app.test\r\n" % i + AUTH.encode() + b"\r\n" for i in range(4)
    )
    reqs += b"GET /oauth/healthy HTTP/1.1\r\nHost: app.test\r\n\r\n"
    await client.send(reqs)
    paths = [(await read_response(client.reader)).json()["raw_path"] for _ in range(4)]
    assert paths == ["/p0", "/p1", "/p2", "/p3"]
    assert (await read_response(client.reader)).body == b"OK"


async def test_upstream_down_gives_502_with_request_id(env: Env, client: Client) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]
    s.close()
    dep = env.edge.state.table.hosts["app.test"].deployment
    assert dep is not None
    object.__setattr__(dep, "upstream", parse_upstream(f"http://127.0.0.1:{dead_port}"))
    r = await client.get("/", headers=AUTH)
    assert r.status == 502
    rid = r.header("X-Request-Id")
    assert rid and rid.encode() in r.body


@pytest.fixture
def limits() -> EdgeLimits:
    return EdgeLimits(upstream_timeout=0.5, header_timeout=0.5, max_header_bytes=16 * 1024)


async def test_slow_upstream_gives_504(env: Env, client: Client) -> None:
    r = await client.get("/slow", headers=AUTH)
    assert r.status == 504
    assert b"Request id" in r.body


async def test_cl_and_te_refused_and_not_forwarded(env: Env, client: Client) -> None:
    r = await client.request(
        b"POST / HTTP/1.1\r\nHost: app.test\r\n"
        + AUTH.encode()
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert r.status == 400
    assert await client.closed()
    assert env.upstream.requests == []


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 3\r\nContent-Length: 3\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        b"Content-Length: -1\r\n",
    ],
)
async def test_ambiguous_framing_refused(env: Env, client: Client, framing: bytes) -> None:
    r = await client.request(b"POST / HTTP/1.1\r\nHost: app.test\r\n" + AUTH.encode() + framing + b"\r\nabc")
    assert r.status == 400
    assert env.upstream.requests == []


async def test_headers_too_large_gives_431(env: Env, client: Client) -> None:
    r = await client.get("/", headers="X-Big: " + "a" * 20_000 + "\r\n")
    assert r.status == 431


async def test_url_too_long_gives_414(env: Env, client: Client) -> None:
    assert (await client.get("/" + "a" * 9000)).status == 414


async def test_slow_header_gives_408(env: Env, client: Client) -> None:
    await client.send(b"GET / HTTP/1.1\r\nHost: app.te")
    r = await asyncio.wait_for(read_response(client.reader), 5)
    assert r.status == 408


async def test_missing_host_is_400(env: Env, client: Client) -> None:
    assert (await client.request(b"GET / HTTP/1.1\r\n\r\n")).status == 400


async def test_access_log_has_no_query_or_cookie(
    env: Env, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="idgate.access"):
        await client.get("/secret?token=abc", headers=AUTH)
    lines = [r.getMessage() for r in caplog.records if r.name == "idgate.access"]
    assert len(lines) == 1
    assert "GET app.test /secret 200" in lines[0]
    assert "deployment=app" in lines[0] and "reason=authenticated" in lines[0]
    assert "token" not in lines[0] and "app_oauth2_proxy" not in lines[0]


class TestIdleTimeout:
    @pytest.fixture
    def limits(self) -> EdgeLimits:
        return EdgeLimits(keepalive_timeout=0.3)

    async def test_idle_client_is_closed(self, env: Env, client: Client) -> None:
        assert (await client.get("/oauth/healthy")).status == 200
        assert await client.closed()


async def test_shutdown_lets_request_in_flight_finish(env: Env) -> None:
    busy, idle = await Client.open(env.port), await Client.open(env.port)
    assert (await idle.get("/oauth/healthy")).status == 200
    await busy.send(b"GET /slow HTTP/1.1\r\nHost: app.test\r\n" + AUTH.encode() + b"\r\n")
    await asyncio.sleep(0.1)
    closing = asyncio.create_task(env.edge.aclose(grace=5))
    assert await idle.closed()
    r = await asyncio.wait_for(read_response(busy.reader), 5)
    assert r.status in (200, 504)  # the upstream timeout here is 0.5 s
    assert r.header("Connection") == "close"
    await closing
    assert not env.edge.is_serving()
    await busy.close()
    await idle.close()

"""WebSocket upgrades (authenticated, then tunnelled) and backpressure towards a slow client."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from tests.unit.edge.conftest import Client, Env, alice, seal


async def test_websocket_is_authenticated_then_tunnelled(env: Env) -> None:
    url = f"http://127.0.0.1:{env.port}/ws"
    async with aiohttp.ClientSession() as http:
        headers = {"Host": "app.test", "Cookie": f"app_oauth2_proxy={seal(alice())}"}
        async with http.ws_connect(url, headers=headers) as ws:
            for i in range(3):
                await ws.send_str(f"hi{i}")
                assert await ws.receive_str(timeout=5) == f"echo:hi{i}:alice@example.com"
        try:
            await http.ws_connect(url, headers={"Host": "app.test", "Accept": "application/json"})
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 401
        else:
            raise AssertionError("an unauthenticated upgrade must be refused")


async def test_slow_client_pauses_the_upstream(env: Env) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect(("127.0.0.1", env.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**22)
    client = Client(reader, writer)
    reader._transport.pause_reading()  # type: ignore[attr-defined]  # a client that does not read
    await client.send(
        f"GET /big HTTP/1.1\r\nHost: app.test\r\nCookie: app_oauth2_proxy={seal(alice())}\r\n\r\n".encode()
    )
    await asyncio.sleep(0.5)
    (conn,) = env.edge.state.connections
    assert conn.transport is not None
    buffered = conn.transport.get_write_buffer_size()
    assert buffered < 1024 * 1024  # 3 MiB were on offer; the edge holds back, not buffers
    reader._transport.resume_reading()  # type: ignore[attr-defined]
    from tests.unit.edge.conftest import read_response

    r = await asyncio.wait_for(read_response(reader), 10)
    assert len(r.body) == 48 * 65536
    await client.close()


async def test_declined_upgrade_keeps_the_connection_usable(env: Env) -> None:
    client = await Client.open(env.port)
    auth = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"
    r = await client.get("/h2c", headers="Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" + auth)
    assert r.status == 200
    assert r.upstream_header("Upgrade") == [] and r.upstream_header("HTTP2-Settings") == []
    r = await client.get("/after", headers=auth)
    assert r.json()["raw_path"] == "/after"
    await client.close()


async def test_pipelined_head_then_get(env: Env) -> None:
    client = await Client.open(env.port)
    auth = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n".encode()
    await client.send(
        b"HEAD /h HTTP/1.1\r\nHost: app.test\r\n" + auth + b"\r\n"
        b"GET /g HTTP/1.1\r\nHost: app.test\r\n" + auth + b"\r\n"
    )
    from tests.unit.edge.conftest import read_response

    head = await asyncio.wait_for(read_response(client.reader, head_request=True), 5)
    get = await asyncio.wait_for(read_response(client.reader), 5)
    assert head.status == 200 and get.json()["raw_path"] == "/g"
    await client.close()

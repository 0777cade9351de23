"""Outbound HTTP helpers: loopback names, fixed overrides, and a session that uses them."""

from __future__ import annotations

import socket

from aiohttp import web
from aiohttp.test_utils import TestServer

from idgate.net import LocalResolver, client_session


async def test_localhost_names_resolve_to_loopback() -> None:
    resolver = LocalResolver()
    for name in ("localhost", "demo.localhost", "A.B.LOCALHOST."):
        [result] = await resolver.resolve(name, 4180)
        assert (result["host"], result["port"], result["family"]) == ("127.0.0.1", 4180, socket.AF_INET)
    [v6] = await resolver.resolve("demo.localhost", 80, socket.AF_INET6)
    assert v6["host"] == "::1"
    await resolver.close()


async def test_overrides_fix_address_and_port() -> None:
    resolver = LocalResolver({"KKP.example.com": ("127.0.0.1", 5555)})
    [result] = await resolver.resolve("kkp.example.com", 443)
    assert (result["hostname"], result["host"], result["port"]) == ("kkp.example.com", "127.0.0.1", 5555)
    await resolver.close()


async def test_client_session_reaches_an_overridden_host() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=request.host)

    app = web.Application()
    app.router.add_get("/", hello)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        assert server.port is not None
        async with (
            client_session({"idp.example.test": ("127.0.0.1", server.port)}) as http,
            http.get("http://idp.example.test/") as resp,
        ):
            assert resp.status == 200
            assert await resp.text() == "idp.example.test"
    finally:
        await server.close()

"""Outbound HTTP (:mod:`idgate.net`): loopback names, fixed overrides, a client that uses them, reading a
body whole (:func:`~idgate.net.read_limited`) from servers that send it in slow pieces, and one request
(:func:`~idgate.net.get_json`, :func:`~idgate.net.post_form`) with its failures as net's own errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.fakes.server import dribble, serve
from tests.fakes.tls import make_ca

from idgate.clock import FrozenClock
from idgate.connectors.errors import UpstreamFailed
from idgate.connectors.http import request_json
from idgate.errors import UpstreamError
from idgate.net import (
    MAX_RESPONSE_BYTES,
    BodyTooLarge,
    LocalResolver,
    NetError,
    Reply,
    TLSError,
    TransportError,
    client_session,
    get_json,
    post_form,
    read_limited,
)
from idgate.oidc.client import ProviderClient, ProviderUnavailable


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


# -- read_limited: the whole body, however it arrives ----------------------------------------------------
BODY = json.dumps({"id_token": "x" * 150_000, "groups": [f"g{i}" for i in range(10_000)]}).encode()


@contextlib.asynccontextmanager
async def slow_server(body: bytes, **how: Any) -> AsyncIterator[str]:
    """A server answering ``GET /`` with ``body`` in slow pieces (``how``: :func:`dribble`'s options)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await dribble(request, body, **how)

    app = web.Application()
    app.router.add_get("/", handler)
    async with serve(app) as origin:
        yield origin


async def read(url: str, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return await read_limited(resp, limit)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_sent_in_slow_pieces_is_read_whole(chunked: bool) -> None:
    async with slow_server(BODY, pieces=6, pause=0.05, chunked=chunked) as origin:
        assert await read(origin + "/") == BODY
        # What the reads replaced: one read returns the pieces that have arrived, not the body.
        async with aiohttp.ClientSession() as http, http.get(origin + "/") as resp:
            assert len(await resp.content.read(MAX_RESPONSE_BYTES + 1)) < len(BODY)


async def test_a_body_of_exactly_the_limit_is_read() -> None:
    async with slow_server(b"a" * 1000, pieces=3, chunked=True) as origin:
        assert await read(origin + "/", limit=1000) == b"a" * 1000


@contextlib.asynccontextmanager
async def raw_server(answer: bytes, *, then_close: bool) -> AsyncIterator[str]:
    """A server that writes ``answer`` (a head, maybe part of a body) to each request, then closes the
    connection (``then_close``) or waits for the client to."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if not then_close:
            await reader.read()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_arrives() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
    async with raw_server(head, then_close=False) as origin:  # the body never comes
        with pytest.raises(BodyTooLarge) as caught:
            await asyncio.wait_for(read(origin + "/?client_secret=hunter2", limit=100_000), 2.0)
    err = caught.value
    assert (err.limit, err.declared, err.url) == (100_000, 5_000_000, origin + "/")
    assert str(err) == f"{origin}/ answered 5000000 bytes, more than the limit of 100000 bytes"
    assert isinstance(err, UpstreamError) and "hunter2" not in str(err)


async def test_a_chunked_body_over_the_limit_is_refused_once_it_passes_it() -> None:
    async with slow_server(BODY, pieces=20, pause=0.01, chunked=True) as origin:
        with pytest.raises(BodyTooLarge) as caught:
            await read(f"{origin.replace('http://', 'http://user:pw@')}/?code=abc#frag", limit=50_000)
    assert str(caught.value) == f"{origin}/ answered more than the limit of 50000 bytes"
    assert caught.value.declared is None


async def test_a_body_cut_short_is_an_error_not_a_shorter_body() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    async with raw_server(head + b'{"id_token": "abc', then_close=True) as origin:
        with pytest.raises(aiohttp.ClientPayloadError):
            await read(origin + "/")


async def test_callers_turn_an_answer_over_the_limit_into_their_own_error() -> None:
    """The proxy's provider client answers ``ProviderUnavailable`` (a 502 page), a connector
    ``UpstreamFailed``; both name the URL and the limit."""
    huge = json.dumps({"keys": [], "pad": "x" * MAX_RESPONSE_BYTES}).encode()

    async def jwks(request: web.Request) -> web.StreamResponse:
        return await dribble(request, huge, chunked=True, pause=0.0)

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    async with serve(app) as origin, aiohttp.ClientSession() as http:
        client = ProviderClient(origin, http, FrozenClock())
        with pytest.raises(ProviderUnavailable) as unavailable:
            await client._get_json(origin + "/jwks?x=1", "JWKS")
        with pytest.raises(UpstreamFailed) as failed:
            await request_json(http, "GET", origin + "/jwks", what="GitHub /user/teams")
    limit = f"{origin}/jwks answered more than the limit of {MAX_RESPONSE_BYTES} bytes"
    assert unavailable.value.reason == f"JWKS: {limit}"
    assert failed.value.reason == f"GitHub /user/teams: {limit}"


# -- get_json / post_form: one request, the whole answer, this module's errors --------------------------


async def test_get_json_and_post_form_answer_status_headers_and_the_whole_body() -> None:
    seen: list[tuple[str, str, str, dict[str, str]]] = []

    async def echo(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        seen.append((request.method, request.headers["Accept"], request.headers.get("X-Token", ""), form))
        return web.json_response({"ok": True}, status=201, headers={"Link": "<next>"})

    app = web.Application()
    app.router.add_route("*", "/", echo)
    async with serve(app) as origin, client_session() as http:
        got = await get_json(http, origin + "/", headers={"X-Token": "t"})
        posted = await post_form(http, origin + "/", {"grant_type": "x"})
    assert (got.status, got.json(), got.headers["link"]) == (201, {"ok": True}, "<next>")
    assert posted.body == b'{"ok": true}'
    assert seen == [
        ("GET", "application/json", "t", {}),
        ("POST", "application/json", "", {"grant_type": "x"}),
    ]


def test_a_reply_that_is_not_json_reads_as_none() -> None:
    assert Reply(200, {}, b"").json() is None
    assert Reply(200, {}, b"<html>").json() is None
    assert Reply(200, {}, b"\xff\xfe{").json() is None


async def test_an_unreachable_peer_is_a_transport_error_naming_the_url_without_its_query() -> None:
    port = unused_port()
    async with client_session() as http:
        with pytest.raises(TransportError) as caught:
            await get_json(http, f"http://user:pw@127.0.0.1:{port}/x?code=secret")
    err = caught.value
    assert not isinstance(err, TLSError) and isinstance(err, NetError) and isinstance(err, UpstreamError)
    assert err.cause == "ClientConnectorError"
    assert str(err) == f"http://127.0.0.1:{port}/x: unreachable (ClientConnectorError)"


async def test_a_body_cut_short_is_a_transport_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    async with raw_server(head + b'{"id_token": "abc', then_close=True) as origin, client_session() as http:
        with pytest.raises(TransportError) as caught:
            await get_json(http, origin + "/")
    assert caught.value.cause == "ClientPayloadError"


async def test_an_answer_over_the_limit_is_body_too_large() -> None:
    async with slow_server(b"a" * 1000, pieces=2) as origin, client_session() as http:
        with pytest.raises(BodyTooLarge):
            await get_json(http, origin + "/", limit=999)
        assert (await get_json(http, origin + "/", limit=1000)).body == b"a" * 1000


async def test_an_untrusted_certificate_is_a_tls_error(tmp_path: Path) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/", hello)
    ca = make_ca(tmp_path / "ca")
    async with serve(app, ca.server_context()) as origin, client_session() as http:
        with pytest.raises(TLSError) as untrusted:
            await get_json(http, origin + "/")
        trusting = ssl.create_default_context(cafile=str(ca.ca_file))
        assert (await get_json(http, origin + "/", tls=trusting)).status == 200
    assert untrusted.value.untrusted
    assert str(untrusted.value) == f"{origin}/: TLS certificate not trusted (ClientConnectorCertificateError)"


async def test_tls_to_a_plain_server_is_a_tls_error_that_is_not_about_trust() -> None:
    async with slow_server(b"{}") as origin, client_session() as http:
        with pytest.raises(TLSError) as caught:
            await get_json(http, origin.replace("http://", "https://") + "/")
    assert not caught.value.untrusted


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""The floor: the least a Python proxy of idgate's design costs on this machine.

``python -m bench.floor VALUES PORT UPSTREAM_PORT [--no-memo]`` serves the first deployment of ``VALUES``
as idgate's edge would, minus everything a product adds: uvloop, one ``asyncio.Protocol`` per client with
httptools, a keep-alive pool to the upstream, the session cookie opened by idgate's own cookie store and
identity headers (``idgate.sessions``, ``idgate.proxy.headers``; memoised per cookie value unless
``--no-memo``), and the upstream's response written to the client as the bytes that came. No routing,
policy, request ids, timeouts, header stripping, framing checks, pipelining, logs or metrics: a missing or
bad cookie is a bare 401 and anything unexpected closes the connection.

PERFORMANCE.md's ~150-line prototype, rebuilt for the bench: it measures, in the same run, how far the
product is from what this design can reach at all (``bench.run`` adds it as two configurations).
"""

from __future__ import annotations

import asyncio
import socket
import sys
from typing import cast

import httptools
import uvloop

from idgate.clock import SystemClock
from idgate.config.apart import read
from idgate.edge.cookies import split_cookies
from idgate.proxy.headers import HeaderOptions, upstream_headers
from idgate.sessions.cookie_store import CookieSessions

_UNAUTHORIZED = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"


class Upstream(asyncio.Protocol):
    """One pooled upstream connection: relays response bytes to the client that holds it."""

    def __init__(self, pool: list[Upstream]) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.client: Client | None = None
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        client = self.client
        assert client is not None and client.transport is not None
        client.transport.write(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        self.pool.append(self)
        assert client is not None
        client.transport_resume()

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.pool:
            self.pool.remove(self)
        if self.client is not None and self.client.transport is not None:
            self.client.transport.close()


class Client(asyncio.Protocol):
    """One client connection: one request at a time, head checked, then relayed."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.lines: list[bytes] = []
        self.cookies: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.lines = []
        self.cookies = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"cookie":
            self.cookies.append(value)
        else:
            self.lines.append(name + b": " + value + b"\r\n")

    def on_headers_complete(self) -> None:
        floor = self.floor
        assert self.transport is not None
        sealed, rest = split_cookies(self.cookies, floor.cookie_b, b"\x00")
        identity = floor.identity(sealed) if sealed else None
        if identity is None:
            self.transport.write(_UNAUTHORIZED)
            return
        head = [self.parser.get_method(), b" ", self.url, b" HTTP/1.1\r\n", *self.lines, identity]
        if rest is not None:
            head += (b"Cookie: ", rest, b"\r\n")
        head.append(b"\r\n")
        self.transport.pause_reading()
        pool = floor.pool
        if pool:
            up = pool.pop()
            up.client = self
            assert up.transport is not None
            up.transport.write(b"".join(head))
        else:
            asyncio.get_running_loop().create_task(floor.connect(self, b"".join(head)))

    def transport_resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class Floor:
    """The deployment's cookie store and identity headers, the upstream pool, and the memo."""

    def __init__(self, values: str, upstream_port: int, memo: bool) -> None:
        proxy = read(values, []).settings.proxies[0]
        self.store = CookieSessions(proxy, SystemClock())
        self.options = HeaderOptions.of(proxy)
        self.cookie_b = proxy.session_cookie.encode()
        self.upstream_port = upstream_port
        self.pool: list[Upstream] = []
        self.memo: dict[str, tuple[bytes, float]] | None = {} if memo else None
        self.clock = SystemClock()

    def identity(self, sealed: str) -> bytes | None:
        now = self.clock.now()
        memo = self.memo
        if memo is not None:
            hit = memo.get(sealed)
            if hit is not None and now < hit[1]:
                return hit[0]
        session = self.store.open(sealed, now)
        if session is None:
            return None
        lines = b"".join(n + b": " + v + b"\r\n" for n, v in upstream_headers(session, self.options))
        if memo is not None:
            memo[sealed] = (lines, session.expires_at)
        return lines

    async def connect(self, client: Client, head: bytes) -> None:
        loop = asyncio.get_running_loop()
        _, up = await loop.create_connection(lambda: Upstream(self.pool), "127.0.0.1", self.upstream_port)
        up.client = client
        assert up.transport is not None
        up.transport.write(head)


async def serve(values: str, port: int, upstream_port: int, memo: bool) -> None:
    floor = Floor(values, upstream_port, memo)
    sock = socket.create_server(("127.0.0.1", port), backlog=1024)
    server = await asyncio.get_running_loop().create_server(lambda: Client(floor), sock=sock)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    values, port, upstream_port = argv[0], int(argv[1]), int(argv[2])
    uvloop.run(serve(values, port, upstream_port, "--no-memo" not in argv[3:]))


if __name__ == "__main__":
    main(sys.argv[1:])

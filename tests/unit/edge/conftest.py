"""Fixtures: a real upstream (aiohttp, echoes what it received), web apps on unix sockets, and the
edge on an ephemeral 127.0.0.1 port in front of them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from idgate.clock import FrozenClock
from idgate.edge.access_log import AccessLog
from idgate.edge.limits import EdgeLimits
from idgate.edge.pool import parse_upstream
from idgate.edge.routes import RouteTable
from idgate.edge.server import EdgeServer, start_edge
from idgate.sessions.base import Session
from idgate.sessions.sealing import Sealer
from idgate.settings import ProviderSettings, ProxySettings, Settings

KEY = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


@dataclass
class Upstream:
    """The test upstream: what it saw, and on how many connections."""

    port: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)
    requests: list[dict[str, object]] = field(default_factory=list)


UP = web.AppKey("up", Upstream)


async def _echo(request: web.Request) -> web.StreamResponse:
    up = request.app[UP]
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if peer:
        up.peers.add((peer[0], peer[1]))
    path = request.path
    if path == "/slow":
        await asyncio.sleep(3)
    if path == "/ws":
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str("echo:" + msg.data + ":" + request.headers.get("X-Forwarded-Email", ""))
        return ws
    body = await request.read()
    seen: dict[str, object] = {
        "method": request.method,
        "raw_path": request.raw_path,
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
        "body_len": len(body),
        "body_sha": hashlib.sha256(body).hexdigest(),
    }
    up.requests.append(seen)
    if path == "/big":
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        block = b"x" * 65536
        for _ in range(48):  # 3 MiB
            await resp.write(block)
        await resp.write_eof()
        return resp
    if path == "/close":
        return web.Response(text="bye", headers={"Connection": "close"})
    return web.json_response(seen)


async def _serve_app(up: Upstream, *, path: str | None = None) -> web.AppRunner:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[UP] = up
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    if path is None:
        site: web.BaseSite = web.TCPSite(runner, "127.0.0.1", 0)
    else:
        site = web.UnixSite(runner, path)
    await site.start()
    if path is None:
        server = site._server
        assert server is not None
        up.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return runner


def proxy_settings(upstream: str, **overrides: object) -> ProxySettings:
    base: dict[str, object] = {
        "name": "app",
        "host": "app.test:8080",
        "upstream": upstream,
        "issuer_url": "http://idp.test/dex",
        "client_id": "app",
        "client_secret": "s",
        "encryption_key": KEY,
        "email_domains": ("example.com",),
        "skip_auth_regex": ("^/-/healthy",),
    }
    base.update(overrides)
    return ProxySettings(**base)  # type: ignore[arg-type]


def seal(session: Session, name: str = "app_oauth2_proxy", key: bytes = KEY) -> str:
    return Sealer([key], "session").seal(session.to_bytes(), name)


def alice(**overrides: object) -> Session:
    base: dict[str, object] = {
        "user": "alice-sub",
        "email": "alice@example.com",
        "email_verified": True,
        "created_at": NOW - 10,
        "expires_at": NOW + 3600,
        "preferred_username": "alice",
        "groups": ("org", "org:team"),
    }
    base.update(overrides)
    return Session(**base)  # type: ignore[arg-type]


@dataclass
class Env:
    """Everything a test talks to."""

    edge: EdgeServer
    port: int
    upstream: Upstream
    signin: Upstream
    provider: Upstream
    clock: FrozenClock


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@pytest.fixture
def limits() -> EdgeLimits:
    return EdgeLimits(upstream_timeout=1.0, header_timeout=1.0, max_header_bytes=16 * 1024)


@pytest.fixture
def proxy_overrides() -> dict[str, object]:
    return {}


@pytest.fixture
def access_log() -> AccessLog | None:
    """Where the edge's access lines go (``None``: records of the ``idgate.access`` logger)."""
    return None


@pytest.fixture
async def env(
    tmp_path: Path, limits: EdgeLimits, proxy_overrides: dict[str, object], access_log: AccessLog | None
) -> AsyncIterator[Env]:
    up, signin, provider = Upstream(), Upstream(), Upstream()
    runners = [
        await _serve_app(up),
        await _serve_app(signin, path=str(tmp_path / "signin.sock")),
        await _serve_app(provider, path=str(tmp_path / "provider.sock")),
    ]
    settings = Settings(
        provider=ProviderSettings(issuer="http://idp.test/dex"),
        proxies=(proxy_settings(f"http://127.0.0.1:{up.port}", **proxy_overrides),),
    )
    table = RouteTable.build(
        settings,
        provider_socket=str(tmp_path / "provider.sock"),
        signin_socket=str(tmp_path / "signin.sock"),
    )
    clock = FrozenClock(NOW)
    sock = listening_socket()
    edge = await start_edge(settings, table, clock, sock=sock, limits=limits, access=access_log)
    try:
        yield Env(edge, sock.getsockname()[1], up, signin, provider, clock)
    finally:
        await edge.aclose(grace=0.5)
        for runner in runners:
            await runner.cleanup()


@contextlib.asynccontextmanager
async def raw_upstream(
    env: Env, handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> AsyncIterator[None]:
    """An asyncio server running ``handle`` per connection, as the upstream of ``app.test``."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dep = env.edge.state.table.hosts["app.test"].deployment
    assert dep is not None
    object.__setattr__(dep, "upstream", parse_upstream(f"http://127.0.0.1:{port}"))
    try:
        yield
    finally:
        server.close()


# -- a raw HTTP/1.1 client, to see exactly what the edge sends ---------------------------------
@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self) -> dict[str, object]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def upstream_header(self, name: str) -> list[str]:
        doc = self.json()
        pairs = doc["headers"]
        assert isinstance(pairs, list)
        return [v for k, v in pairs if k.lower() == name.lower()]


async def read_response(reader: asyncio.StreamReader, head_request: bool = False) -> Response:
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    status = int(line.split()[1])
    headers: list[tuple[str, str]] = []
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    lower = {k.lower(): v for k, v in headers}
    body = b""
    if head_request or status in (204, 304) or 100 <= status < 200:
        pass
    elif lower.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
    elif "content-length" in lower:
        body = await reader.readexactly(int(lower["content-length"]))
    else:
        body = await reader.read()
    return Response(status, headers, body)


class Client:
    """One raw keep-alive connection to the edge."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, raw: bytes, head_request: bool = False) -> Response:
        await self.send(raw)
        return await asyncio.wait_for(read_response(self.reader, head_request), 10)

    async def get(self, path: str, host: str = "app.test", headers: str = "") -> Response:
        return await self.request(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode())

    async def closed(self) -> bool:
        data = await asyncio.wait_for(self.reader.read(1), 5)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def client(env: Env) -> AsyncIterator[Client]:
    c = await Client.open(env.port)
    try:
        yield c
    finally:
        await c.close()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every edge test runs on stock asyncio and on uvloop (what production uses)."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories

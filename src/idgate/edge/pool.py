"""Upstream connections: targets, a keep-alive pool per target, and the response-side protocol.

A :class:`Target` is where requests go: ``http://host:port`` (TCP, name resolved by
``loop.create_connection``), ``https://...`` (TLS, verified), or ``unix:/path`` (idgate's own web apps).
:class:`Pool` keeps idle connections per target, LIFO (the most recently used is the most likely to be
alive), bounded, each closed after ``pool_idle_timeout``. An :class:`UpstreamConnection` parses
responses with httptools and reports each event to its current :class:`Sink` (the exchange that holds
it); between exchanges it belongs to the pool, and any byte or EOF then retires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools
from httptools import HttpParserError, HttpParserUpgrade

from idgate.edge.http import MAX_RESPONSE_HEAD
from idgate.edge.limits import EdgeLimits


@dataclass(frozen=True, slots=True)
class Target:
    """An upstream: a TCP ``host``:``port`` (optionally TLS) or a unix socket ``path``."""

    key: str
    host: str = ""
    port: int = 0
    path: str = ""
    tls: bool = False
    verify: bool = True  # TLS: check the certificate (ssl_upstream_insecure_skip_verify turns it off)
    timeout: float = 0.0  # upstream_timeout; 0: the edge's limit (the smaller of the two applies)


def parse_upstream(url: str) -> Target:
    """``http://svc:9090`` / ``https://svc`` / ``unix:/run/app.sock`` -> :class:`Target`.

    A path in an HTTP URL is ignored: requests keep their own path, as OAuth2-Proxy forwards them.
    """
    if url.startswith("unix:"):
        path = url[5:]
        if not path:
            raise ValueError(f"upstream {url!r}: no socket path")
        return Target(key=url, path=path)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream {url!r}: expected http://host:port, https://host or unix:/path")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    return Target(key=f"{parts.scheme}://{parts.hostname}:{port}", host=parts.hostname, port=port, tls=tls)


def unix_target(path: str) -> Target:
    """The target of a web app listening on unix socket ``path``."""
    return Target(key="unix:" + path, path=path)


def _tls_context(verify: bool) -> ssl.SSLContext:
    """A client TLS context (making one loads the system CA store: :class:`Pool` keeps its own)."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Disable Nagle on a TCP transport (stock asyncio does not for sockets it did not create)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Sink(Protocol):
    """What an upstream connection reports to while an exchange holds it."""

    def upstream_head(self, status: int, head: bytes, keep_alive: bool) -> None:
        """A response head arrived (1xx included): its status line and header lines, as they came."""

    def upstream_body(self, data: bytes) -> None:
        """Decoded body bytes arrived."""

    def upstream_complete(self, keep_alive: bool) -> None:
        """The final response ended; ``keep_alive``: the connection may be reused."""

    def upstream_upgraded(self, rest: bytes) -> None:
        """A 101 ended the HTTP part; ``rest`` is the first tunnelled bytes."""

    def upstream_lost(self, exc: Exception | None) -> None:
        """The connection closed or sent something unparsable."""

    def upstream_flush(self) -> None:
        """One read has been parsed: write what it produced."""

    def upstream_pause(self) -> None:
        """The upstream's write buffer is full: stop reading the client."""

    def upstream_resume(self) -> None:
        """The upstream's write buffer drained."""


class _HeadDone(Exception):
    """Raised from a parser callback to end a response that has no body (HEAD)."""


class HeadTooLarge(Exception):
    """The upstream sent more than :data:`~idgate.edge.http.MAX_RESPONSE_HEAD` bytes of an unfinished head."""


class UpstreamConnection(asyncio.Protocol):
    """One connection to an upstream; its parser feeds the current :class:`Sink`."""

    def __init__(self, pool: Pool, target: Target) -> None:
        self.pool = pool
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.sink: Sink | None = None
        self.no_body = False  # the request was HEAD: the response has no body whatever it says
        self.reused = False
        self.received = False  # any byte arrived during the current exchange
        self.idle_since = 0.0
        self.reading_paused = False
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._dirty = False
        # The response head is relayed as the bytes that came (see :func:`~idgate.edge.http.relay_head`):
        # while one is expected, what arrives is kept in ``_buf`` (from the start of that head).
        self._buf: bytes | bytearray = b""
        self._awaiting = False
        self.raw: Callable[[bytes], None] | None = None  # set once a 101 turned this into a tunnel

    # -- life cycle ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        set_nodelay(transport)

    def attach(self, sink: Sink, no_body: bool) -> None:
        """Give the connection to an exchange."""
        if self._dirty:
            self._parser = httptools.HttpResponseParser(self)
            self._dirty = False
        self.sink = sink
        self.no_body = no_body
        self.received = False
        self._buf = b""
        self._awaiting = True

    def detach(self) -> None:
        """Take the connection back from its exchange."""
        self.sink = None
        if self.reading_paused:
            self.resume_reading()

    def close(self) -> None:
        """Close now, dropping anything unsent."""
        self.closed = True
        self.sink = None
        if self.transport is not None:
            self.transport.abort()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        assert self.transport is not None
        self.transport.writelines(data)

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self.raw is not None:
            self.raw(data)
            return
        sink = self.sink
        if sink is None:  # an idle connection must stay silent
            self.pool.discard(self)
            self.close()
            return
        self.received = True
        if self._awaiting:
            buf = self._buf
            if not buf:
                self._buf = data  # the common case: the whole head in one read, not copied
            elif isinstance(buf, bytearray):
                buf += data  # a head in many reads grows in place, not by copying what came before
            else:
                self._buf = bytearray(buf) + data
        try:
            self._parser.feed_data(data)
            if self._awaiting and len(self._buf) > MAX_RESPONSE_HEAD:
                self._head_too_large()
                return
            if self.sink is not None:
                self.sink.upstream_flush()
        except HttpParserUpgrade as exc:
            self._dirty = True
            offset = int(exc.args[0])
            if self.sink is not None:
                self.sink.upstream_upgraded(data[offset:])
        except HttpParserError as exc:
            self._dirty = True
            if isinstance(exc.__context__, _HeadDone):
                return
            if self.sink is not None:
                self.sink.upstream_lost(exc)
            self.close()

    def _head_too_large(self) -> None:
        self._dirty = True
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.upstream_lost(HeadTooLarge())
        self.close()

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        sink = self.sink
        self.sink = None
        if sink is not None:
            sink.upstream_lost(exc)
        else:
            self.pool.discard(self)

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_pause()

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_resume()

    # -- httptools callbacks ------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        buf = self._buf
        end = buf.find(b"\r\n\r\n") + 2  # httptools accepts CRLF line ends only
        status = self._parser.get_status_code()
        if status < 200:  # an interim response: the final head follows in what is left
            self._buf = buf[end + 2 :]
        else:
            self._awaiting = False
            self._buf = b""
        keep_alive = self._parser.should_keep_alive()
        if self.sink is not None:
            self.sink.upstream_head(status, bytes(buf[:end]), keep_alive)
        if self.no_body and status >= 200 and self.sink is not None:
            self._dirty = True  # set first: completing may hand this connection to the next request
            self.sink.upstream_complete(keep_alive)
            raise _HeadDone

    def on_body(self, body: bytes) -> None:
        if self.sink is not None:
            self.sink.upstream_body(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() >= 200 and self.sink is not None:
            self.sink.upstream_complete(self._parser.should_keep_alive())


class Pool:
    """Idle keep-alive connections per target (LIFO, at most ``pool_max_idle`` each)."""

    def __init__(self, limits: EdgeLimits) -> None:
        self._limits = limits
        self._idle: dict[str, list[UpstreamConnection]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tls: dict[bool, ssl.SSLContext] = {}  # by ``verify``, made on first use
        self.connects = 0  # connections opened so far (for tests and metrics)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The loop, looked up once: on Python 3.11 ``asyncio.get_running_loop()`` makes a ``getpid``
        system call each time, twice per proxied request otherwise."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def take(self, target: Target) -> UpstreamConnection | None:
        """The most recently released live connection to ``target``, or ``None``."""
        idle = self._idle.get(target.key)
        if not idle:
            return None
        deadline = self._running_loop().time() - self._limits.pool_idle_timeout
        while idle:
            conn = idle.pop()
            if conn.closed or conn.transport is None or conn.transport.is_closing():
                continue
            if conn.idle_since < deadline:
                conn.close()
                continue
            conn.reused = True
            return conn
        return None

    async def connect(self, target: Target) -> UpstreamConnection:
        """A fresh connection to ``target`` (raises ``OSError`` when it cannot be opened)."""
        loop = asyncio.get_running_loop()
        self.connects += 1
        if target.path:
            _, proto = await loop.create_unix_connection(
                lambda: UpstreamConnection(self, target), target.path
            )
        elif target.tls:
            ctx = self._tls.get(target.verify)
            if ctx is None:
                ctx = self._tls[target.verify] = _tls_context(target.verify)
            _, proto = await loop.create_connection(
                lambda: UpstreamConnection(self, target), target.host, target.port, ssl=ctx
            )
        else:
            _, proto = await loop.create_connection(
                lambda: UpstreamConnection(self, target), target.host, target.port
            )
        return proto

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection whose exchange ended cleanly; closes it when the pool is full."""
        conn.detach()
        if self._closed or conn.closed or conn.transport is None or conn.transport.is_closing():
            conn.close()
            return
        idle = self._idle.setdefault(conn.target.key, [])
        if len(idle) >= self._limits.pool_max_idle:
            conn.close()
            return
        loop = self._running_loop()
        conn.idle_since = loop.time()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._limits.pool_idle_timeout, self._sweep)

    def discard(self, conn: UpstreamConnection) -> None:
        """Forget an idle connection that closed or misbehaved."""
        idle = self._idle.get(conn.target.key)
        if idle and conn in idle:
            idle.remove(conn)

    def _sweep(self) -> None:
        self._sweeper = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() - self._limits.pool_idle_timeout
        left = False
        for idle in self._idle.values():
            stale = [c for c in idle if c.idle_since < deadline or c.closed]
            for conn in stale:
                idle.remove(conn)
                conn.close()
            left = left or bool(idle)
        if left and not self._closed:
            self._sweeper = loop.call_later(self._limits.pool_idle_timeout / 2, self._sweep)

    def idle_count(self, target: Target) -> int:
        """How many idle connections to ``target`` are kept."""
        return len(self._idle.get(target.key, ()))

    def close(self) -> None:
        """Close every idle connection and keep no more."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

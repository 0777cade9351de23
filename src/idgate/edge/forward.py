"""One proxied exchange: stream a request to a pooled upstream connection and its response back.

::

    client bytes ─parser─> EdgeConnection ─body()/body_done()─> Forward ─write─> UpstreamConnection
    client  <─write─ Forward <─upstream_head/body/complete()─ UpstreamConnection <─parser─ upstream

Backpressure both ways: a full upstream write buffer pauses reading the client, a full client write
buffer pauses reading the upstream. Response framing is rebuilt for the client: ``Content-Length``
kept, chunked and read-until-close bodies re-chunked for HTTP/1.1 clients (HTTP/1.0 clients get the
raw body and a closed connection). A reused connection that fails before any response byte is retried
once on a fresh one, for idempotent requests without a body.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from idgate.edge.http import CRLF, IDEMPOTENT, LAST_CHUNK, Request, chunk, relay_head
from idgate.edge.pool import HeadTooLarge, Target, UpstreamConnection

if TYPE_CHECKING:
    from idgate.edge.server import EdgeConnection

PAUSE_UPSTREAM_FULL = 1
PAUSE_CONNECTING = 2


class Forward:
    """The state of one request/response relayed between a client and an upstream."""

    __slots__ = (
        "close_client",
        "conn",
        "done",
        "edge",
        "head",
        "head_sent",
        "last",
        "out",
        "out_chunked",
        "read_to_close",
        "received",
        "req",
        "response_extra",
        "retried",
        "status",
        "target",
        "task",
        "timed",
        "timeout",
        "tunnel",
        "upgrade",
    )

    def __init__(
        self,
        edge: EdgeConnection,
        req: Request,
        target: Target,
        head: bytes,
        upgrade: bool,
        *,
        response_extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.edge = edge
        self.response_extra = response_extra
        limit = edge.state.limits.upstream_timeout
        self.timeout = min(limit, target.timeout) if target.timeout > 0 else limit
        self.req = req
        self.target = target
        self.head = head
        self.upgrade = upgrade
        self.conn: UpstreamConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.timed = False  # the upstream timeout runs (the client connection's timer watches it)
        self.last = 0.0
        self.retried = False
        self.done = False
        self.head_sent = False
        self.out_chunked = False
        self.out: list[bytes] = []  # response bytes gathered during one upstream read
        self.read_to_close = False
        self.close_client = False
        self.tunnel = False
        self.status = 0
        self.received = 0

    # -- getting a connection -----------------------------------------------------------------
    def start(self) -> None:
        conn = self.edge.state.pool.take(self.target)
        if conn is not None:
            self._attach(conn)
        else:
            self._open()

    def _open(self) -> None:
        self.edge.pause(PAUSE_CONNECTING)
        self.task = self.edge.loop.create_task(self._connect())

    async def _connect(self) -> None:
        state = self.edge.state
        try:
            async with asyncio.timeout(state.limits.upstream_connect_timeout):
                conn = await state.pool.connect(self.target)
        except TimeoutError:
            self.task = None
            self._fail(504, "upstream_connect_timeout")
            return
        except OSError:
            self.task = None
            self._fail(502, "upstream_unreachable")
            return
        self.task = None
        if self.done:
            state.pool.release(conn)
            return
        self.edge.resume(PAUSE_CONNECTING)
        self._attach(conn)

    def _attach(self, conn: UpstreamConnection) -> None:
        self.conn = conn
        req = self.req
        conn.attach(self, no_body=req.method == b"HEAD")
        if self.edge.write_paused:
            conn.pause_reading()
        if not req.body and not req.complete:
            conn.write(self.head)
            return
        parts = [self.head]
        for data in req.body:
            parts += chunk(data) if req.chunked else (data,)
        req.body = []
        if req.complete:
            if req.chunked:
                parts.append(LAST_CHUNK)
            self._arm()
        conn.writelines(parts)

    # -- the request body, from the client ----------------------------------------------------
    def body(self, data: bytes) -> None:
        if self.done:
            return
        limit = self.edge.state.limits.max_body_bytes
        self.received += len(data)
        if limit is not None and self.received > limit:
            self._fail(413, "body_too_large")
            return
        conn = self.conn
        if conn is None:
            self.req.body.append(data)
        elif self.req.chunked:
            conn.writelines(chunk(data))
        else:
            conn.write(data)

    def body_done(self) -> None:
        if self.done or self.conn is None:
            return  # _attach sends the rest when the connection arrives
        if self.req.chunked:
            self.conn.write(LAST_CHUNK)
        self._arm()

    # -- timeouts -----------------------------------------------------------------------------
    # The timer itself belongs to the client connection and outlives its exchanges
    # (:meth:`EdgeConnection.watch_upstream`): a request does not schedule and cancel one of its own.
    def _arm(self) -> None:
        self.last = self.edge.loop.time()
        if not self.timed:
            self.timed = True
            self.edge.watch_upstream(self)

    def check_timeout(self) -> float | None:
        """Called by the connection's timer: fail with 504 when the upstream has been silent for the
        timeout; else when to look again (``None``: no longer timed)."""
        if self.done or self.tunnel or not self.timed:
            return None
        now = self.edge.loop.time()
        idle = now - self.last
        if self.conn is not None and self.conn.reading_paused:
            idle = 0.0  # the client is the slow one; not the upstream's fault
            self.last = now
        if idle < self.timeout:
            return self.last + self.timeout
        self._fail(504, "upstream_timeout")
        return None

    # -- the response, from the upstream (Sink) ------------------------------------------------
    def upstream_head(self, status: int, head: bytes, keep_alive: bool) -> None:
        if self.done:
            return
        self.last = self.edge.loop.time()
        req = self.req
        if status < 200:
            if status == 101 and self.upgrade:
                self._send_switching(head)
            return  # other 1xx: the edge already answered Expect itself
        relayed = relay_head(head)
        te = relayed.transfer_encoding
        if te is not None and not te.endswith(b"chunked"):
            self._fail(502, "upstream_bad_transfer_encoding")
            return
        content_length = relayed.content_length
        out = self.out
        out += relayed.parts
        http11 = req.version == "1.1"
        close = not req.keep_alive or not req.complete or self.edge.state.closing
        if req.method == b"HEAD" or status in (204, 304):
            if content_length is not None and status != 204:
                out += (b"Content-Length: ", content_length, CRLF)
        elif te is not None or content_length is None:
            self.read_to_close = te is None
            if http11:
                self.out_chunked = True
                out.append(b"Transfer-Encoding: chunked\r\n")
            else:
                close = True
        else:
            out += (b"Content-Length: ", content_length, CRLF)
        if self.response_extra:
            for name, value in self.response_extra:  # e.g. a refreshed session's Set-Cookie
                out += (name, b": ", value, CRLF)
        if close:
            out.append(b"Connection: close\r\n")
        elif not http11:
            out.append(b"Connection: keep-alive\r\n")
        out.append(CRLF)
        self.close_client = close
        self.status = status
        self.head_sent = True

    def _send_switching(self, head: bytes) -> None:
        """The upstream accepted the WebSocket upgrade: its 101, with our own Connection and Upgrade."""
        parts = relay_head(head).parts
        parts += (b"Connection: Upgrade\r\nUpgrade: ", self.req.upgrade, CRLF, CRLF)
        self.status = 101
        self.upstream_flush()
        self.edge.writelines(parts)
        self.head_sent = True

    def upstream_body(self, data: bytes) -> None:
        if self.done:
            return
        self.last = self.edge.loop.time()
        if self.out_chunked:
            self.out += chunk(data)
        else:
            self.out.append(data)

    def upstream_flush(self) -> None:
        """Write what one upstream read produced in one go (head and body: one syscall)."""
        out = self.out
        if out:
            self.out = []
            if len(out) == 1:
                self.edge.write(out[0])
            else:
                self.edge.writelines(out)

    def upstream_complete(self, keep_alive: bool) -> None:
        if self.done:
            return
        if self.out_chunked:
            self.out.append(LAST_CHUNK)
        self.upstream_flush()
        conn, self.conn = self.conn, None
        if conn is not None:
            if keep_alive and self.req.complete and not self.upgrade:
                self.edge.state.pool.release(conn)
            else:
                conn.close()
        self._finish(self.close_client)

    def upstream_upgraded(self, rest: bytes) -> None:
        conn = self.conn
        if self.done or conn is None:
            return
        if not self.upgrade or self.status != 101:
            self._fail(502, "upstream_unexpected_upgrade")
            return
        self.tunnel = True
        self._cancel_timer()
        self.edge.start_tunnel(conn, rest)

    def upstream_lost(self, exc: Exception | None) -> None:
        if self.done:
            return
        conn, self.conn = self.conn, None
        if self.tunnel:
            self._finish(True)
            return
        if not self.head_sent:
            req = self.req
            if (
                conn is not None
                and conn.reused
                and not conn.received
                and not self.retried
                and req.method in IDEMPOTENT
                and not req.has_body
            ):
                self.retried = True
                self._cancel_timer()
                self._open()
                return
            self._fail(502, "upstream_head_too_large" if isinstance(exc, HeadTooLarge) else "upstream_closed")
            return
        if self.read_to_close and exc is None:
            if self.out_chunked:
                self.out.append(LAST_CHUNK)
            self.upstream_flush()
            self._finish(self.close_client)
            return
        self._abort()

    def upstream_pause(self) -> None:
        self.edge.pause(PAUSE_UPSTREAM_FULL)

    def upstream_resume(self) -> None:
        self.edge.resume(PAUSE_UPSTREAM_FULL)

    # -- endings ------------------------------------------------------------------------------
    def _cancel_timer(self) -> None:
        if self.timed:
            self.timed = False
            self.edge.unwatch_upstream(self)

    def _drop_conn(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def _finish(self, close: bool) -> None:
        self.done = True
        self._cancel_timer()
        self.edge.resume(PAUSE_UPSTREAM_FULL | PAUSE_CONNECTING)
        self.edge.forward_finished(self.status, close)

    def _fail(self, status: int, reason: str) -> None:
        """The upstream failed: an error page if nothing was sent yet, else cut the client off."""
        if self.head_sent:
            self._abort()
            return
        self.done = True
        self._cancel_timer()
        self._drop_conn()
        self.edge.resume(PAUSE_UPSTREAM_FULL | PAUSE_CONNECTING)
        self.edge.forward_failed(status, reason)

    def _abort(self) -> None:
        self.done = True
        self._cancel_timer()
        self._drop_conn()
        self.edge.abort()

    def cancel(self) -> None:
        """The client went away: stop everything, keep no half-used connection."""
        self.done = True
        self._cancel_timer()
        if self.task is not None:
            self.task.cancel()
            self.task = None
        self._drop_conn()

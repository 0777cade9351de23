"""The edge's client side: one :class:`EdgeConnection` per accepted client connection.

A connection serves one request at a time. httptools' callbacks fill a :class:`~idgate.edge.http.Request`;
when its head is complete the request is routed and either answered here (``/oauth/healthy``,
``/oauth/auth``, redirects, error pages) or handed to a :class:`~idgate.edge.forward.Forward`. Pipelined
requests that arrive meanwhile wait in a queue (their body chunks buffered; reading pauses as soon as a
request begins while another is being answered, so the queue holds at most one read's worth). Reading
also pauses while an upstream connection is being opened and while the upstream's write buffer is full.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Coroutine
from time import perf_counter
from typing import Any, cast

import httptools
from httptools import HttpParserError, HttpParserUpgrade

from idgate.clock import Clock
from idgate.edge.access_log import AccessLog
from idgate.edge.dispatch import dispatch
from idgate.edge.forward import Forward
from idgate.edge.http import (
    CONTINUE_100,
    DEFAULT_RULES,
    HeaderRules,
    Request,
    simple_response,
    upstream_head,
    with_request_id,
)
from idgate.edge.limits import EdgeLimits
from idgate.edge.pages import page
from idgate.edge.pool import Pool, Target, UpstreamConnection, set_nodelay
from idgate.edge.responses import HTML
from idgate.edge.routes import RouteTable
from idgate.edge.stats import STATS, EdgeStats
from idgate.edge.trust import DEFAULT_TRUST
from idgate.oidc.client import ProviderUnavailable
from idgate.sessions.base import SessionStoreUnavailable

log = logging.getLogger("idgate.edge")
#: The default sink: access lines as records of the ``idgate.access`` logger.
LOGGING_ACCESS_LOG = AccessLog()

PAUSE_PIPELINE = 4
PAUSE_UPGRADE = 8
PAUSE_LOOKUP = 16
_IDLE, _HEADER = 1, 2
_NEVER = float("inf")


class _Reject(Exception):
    """Raised from a parser callback to stop parsing with ``status`` (414, 431)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class EdgeState:
    """What every connection of one edge shares."""

    def __init__(
        self,
        table: RouteTable,
        clock: Clock,
        limits: EdgeLimits,
        stats: EdgeStats | None = None,
        rules: HeaderRules = DEFAULT_RULES,
        *,
        scheme: bytes = b"http",
        access: AccessLog | None = None,
    ) -> None:
        self.table = table
        # How clients reach this listener (b"https" with idgate.tls): X-Forwarded-Proto unless a trusted
        # proxy in front says otherwise, and so the Secure attribute of the cookies set here.
        self.scheme = scheme
        self.clock = clock
        self.limits = limits
        self.rules = rules
        self.stats = STATS if stats is None else stats
        # Where each request's line goes (idgate.edge.access_log): through logging unless idgate serve
        # gave the batched writer.
        self.access = LOGGING_ACCESS_LOG if access is None else access
        self.pool = Pool(limits)
        self.connections: set[EdgeConnection] = set()
        self.closing = False


class EdgeConnection(asyncio.Protocol):
    """One client connection: parse, route, answer or forward, one request at a time."""

    def __init__(self, state: EdgeState) -> None:
        self.state = state
        self._max_header_bytes = state.limits.max_header_bytes
        self._max_headers = state.limits.max_headers
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.peer = b"unknown"
        self.write_paused = False
        self._parser = httptools.HttpRequestParser(self)
        self._incoming: Request | None = None
        self._in_head = False
        self._active: Request | None = None
        self._queue: collections.deque[Request] = collections.deque()
        self._forward: Forward | None = None
        self._deferred: asyncio.Task[None] | None = None
        self._collect: Callable[[], None] | None = None  # a body the edge reads itself, then this
        self._collect_timer: asyncio.TimerHandle | None = None
        self._tunnel: UpstreamConnection | None = None
        self._after_upgrade = b""
        self._upgrade_pending = False
        self._pending_error = 0
        self._response_done = False
        self._close_after = False
        self._closed = False
        self._looping = False
        self._paused = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # when _timer fires
        self._deadline = _NEVER  # when the connection times out (the timer may fire earlier and re-arm)
        self._timer_kind = 0
        self._watched: Forward | None = None  # the exchange whose upstream timeout runs
        self._up_timer: asyncio.TimerHandle | None = None
        self._up_timer_at = 0.0
        self._status = 0
        # For the access line, set by dispatch: the deployment, the session's email, the gate's decision
        # ("allow"/"deny", "" where it did not decide) and its reasons or the edge's reason word.
        self.deployment = ""
        self.user = ""
        self.decision = ""
        self.reason = ""

    # -- transport events ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        set_nodelay(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.peer = str(peer[0]).encode()
        self.state.connections.add(self)
        self._arm(_IDLE)

    def data_received(self, data: bytes) -> None:
        if self._tunnel is not None:
            self._tunnel.write(data)
            return
        if self._closed:
            return
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade as exc:
            # The parser stops after a request with Upgrade; what follows waits for its answer.
            self._upgrade_pending = True
            self._after_upgrade += data[int(exc.args[0]) :]
            self.pause(PAUSE_UPGRADE)
        except HttpParserError as exc:
            self._parse_error(exc)

    def eof_received(self) -> bool | None:
        if self._tunnel is not None:
            self._tunnel.close()
            return False
        if self._active is not None:
            self._close_after = True
            return True  # finish the response in flight, then close
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_timer()
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._stop_collecting()
        if self._forward is not None:
            self._forward.cancel()
            self._forward = None
        if self._tunnel is not None:
            self._tunnel.close()
            self._tunnel = None
        self.state.connections.discard(self)

    def pause_writing(self) -> None:
        self.write_paused = True
        conn = self._tunnel or (self._forward.conn if self._forward else None)
        if conn is not None:
            conn.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        conn = self._tunnel or (self._forward.conn if self._forward else None)
        if conn is not None:
            conn.resume_reading()

    # -- helpers used by Forward --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closed:
            self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        if self.transport is not None and not self._closed:
            self.transport.writelines(data)

    def pause(self, flag: int) -> None:
        if not self._paused and self.transport is not None and not self._closed:
            self.transport.pause_reading()
        self._paused |= flag

    def resume(self, flags: int) -> None:
        if not self._paused & flags:
            return
        self._paused &= ~flags
        if not self._paused and self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        """Cut the connection (a response was half sent and cannot be finished)."""
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        """Close after what is buffered has been written."""
        self._closed = True
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()

    def close_if_idle(self) -> None:
        """Close now if no request is being served or received (shutdown)."""
        if self._active is None and self._incoming is None:
            self.close()

    def start_tunnel(self, conn: UpstreamConnection, rest: bytes) -> None:
        """A 101 came back: from now on bytes flow raw both ways (WebSocket)."""
        self._tunnel = conn
        self._upgrade_pending = False
        conn.raw = self.write
        if rest:
            self.write(rest)
        early, self._after_upgrade = self._after_upgrade, b""
        if early:
            conn.write(early)
        if self.write_paused:
            conn.pause_reading()
        self.resume(PAUSE_UPGRADE | PAUSE_PIPELINE)

    # -- timers -------------------------------------------------------------------------------
    # One timer per connection, re-armed lazily: arming only moves ``_deadline``; the timer is
    # rescheduled when it fires early, or replaced when the new deadline is earlier than it. A
    # keep-alive connection under load schedules about one timer per header timeout, not two per request.
    def _arm(self, kind: int) -> None:
        limits = self.state.limits
        delay = limits.keepalive_timeout if kind == _IDLE else limits.header_timeout
        self._timer_kind = kind
        deadline = self._deadline = self.loop.time() + delay
        if self._timer is not None:
            if self._timer_at <= deadline:
                return  # fires first, then re-arms for what is left
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def watch_upstream(self, fwd: Forward) -> None:
        """Time ``fwd``'s upstream (its ``last`` + ``timeout``); one timer per connection, re-armed lazily."""
        self._watched = fwd
        due = fwd.last + fwd.timeout
        if self._up_timer is not None:
            if self._up_timer_at <= due:
                return
            self._up_timer.cancel()
        self._up_timer_at = due
        self._up_timer = self.loop.call_at(due, self._on_upstream_timer)

    def unwatch_upstream(self, fwd: Forward) -> None:
        """``fwd`` no longer needs its timeout (the timer, if any, stays for the next exchange)."""
        if self._watched is fwd:
            self._watched = None

    def _on_upstream_timer(self) -> None:
        self._up_timer = None
        fwd = self._watched
        if fwd is None or self._closed:
            return
        due = fwd.check_timeout()
        if due is not None and self._up_timer is None and self._watched is fwd:
            self._up_timer_at = due
            self._up_timer = self.loop.call_at(due, self._on_upstream_timer)

    def _disarm(self) -> None:
        """No timeout until the next :meth:`_arm` (the timer, if any, stays and re-arms lazily)."""
        self._deadline = _NEVER

    def _cancel_timer(self) -> None:
        self._deadline = _NEVER
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._up_timer is not None and self._closed:
            self._up_timer.cancel()
            self._up_timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        deadline = self._deadline
        if deadline != _NEVER and self.loop.time() < deadline:
            self._timer_at = deadline
            self._timer = self.loop.call_at(deadline, self._on_timer)
            return
        if deadline == _NEVER or self._active is not None:
            return
        self._deadline = _NEVER
        if self._timer_kind == _HEADER and self._incoming is not None:
            self._incoming = None
            self._active = Request(perf_counter())
            self.error(408, "header_timeout", close=True)
        else:
            self.close()

    # -- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._incoming = Request(perf_counter(), self.state.rules)
        self._in_head = True
        if self._active is None:
            self._arm(_HEADER)
        else:
            # A pipelined request: stop reading until its turn (what this read holds is queued). Not
            # pausing when the request being answered completes spares two epoll changes per request.
            self.pause(PAUSE_PIPELINE)

    def on_url(self, url: bytes) -> None:
        req = self._incoming
        assert req is not None
        req.url += url
        if len(req.url) > self.state.limits.max_url_bytes:
            raise _Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self._incoming
        if req is None or not self._in_head:
            return  # trailers are not forwarded
        size = req.header_bytes = req.header_bytes + len(name) + len(value) + 4
        if size > self._max_header_bytes or len(req.headers) >= self._max_headers:
            raise _Reject(431)
        req.add_header(name, value)

    def on_headers_complete(self) -> None:
        req = self._incoming
        assert req is not None
        self._in_head = False
        parser = self._parser
        req.method = parser.get_method()
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        if self._active is None and not self._queue:
            self._disarm()
            self._begin(req)
        else:
            self._queue.append(req)

    def on_body(self, body: bytes) -> None:
        req = self._incoming
        if req is None:
            return
        if req is self._active:
            if self._forward is not None:
                self._forward.body(body)
            elif self._collect is not None:
                req.body.append(body)  # bounded: only a small Content-Length is collected (collect)
            elif self._deferred is not None:
                req.body.append(body)  # kept until the session lookup decides (reading is paused)
        else:
            req.body.append(body)

    def on_message_complete(self) -> None:
        req = self._incoming
        if req is None:
            return
        self._incoming = None
        req.complete = True
        if req is self._active:
            if self._forward is not None:
                self._forward.body_done()
            elif self._collect is not None:
                then = self._collect
                self._stop_collecting()
                then()
            if self._response_done:
                self._exchange_done()
        elif self._active is not None:
            self.pause(PAUSE_PIPELINE)  # a queued request (paused already when it began)

    def _parse_error(self, exc: HttpParserError) -> None:
        cause = exc.__context__
        status = cause.status if isinstance(cause, _Reject) else 400
        req = self._incoming
        if self._active is None:
            self._incoming = None
            self._active = req or Request(perf_counter())
            self.error(status, "bad_request", close=True)
        elif req is self._active:
            fwd = self._forward
            if fwd is not None and fwd.head_sent:
                fwd.cancel()
                self.abort()
            else:
                if fwd is not None:
                    fwd.cancel()
                    self._forward = None
                self.error(status, "bad_request", close=True)
        else:
            self._pending_error = status  # answered in order, after the request in flight
            self.pause(PAUSE_PIPELINE)

    # -- one exchange -------------------------------------------------------------------------
    def _begin(self, req: Request) -> None:
        self._active = req
        self._response_done = False
        self._status = 0
        self.deployment = ""
        self.user = ""
        self.decision = ""
        self.reason = ""
        dispatch(self, req)

    def defer(self, req: Request, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a session lookup or refresh) before ``req`` can be answered.

        Reading pauses meanwhile; body bytes that already arrived are kept. ``work`` ends in ``reply``,
        ``error`` or ``forward_to`` like a synchronous dispatch. A session store that is down, or a bearer
        token issuer whose keys cannot be fetched, gives a 503.
        """
        self.pause(PAUSE_LOOKUP)
        self._deferred = self.loop.create_task(self._run_deferred(req, work))

    async def _run_deferred(self, req: Request, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except SessionStoreUnavailable as exc:
            if not self._closed and self._active is req:
                log.warning("session store unavailable: %s", exc)
                self.error(503, "session_store_unavailable", close=False)
        except ProviderUnavailable as exc:  # a bearer token's issuer keys cannot be fetched
            if not self._closed and self._active is req:
                log.warning("identity provider unavailable: %s", exc.reason)
                self.error(503, "identity_provider_unavailable", close=False)
        except Exception:
            if not self._closed and self._active is req:
                log.exception("session lookup failed")
                self.error(500, "session_lookup_failed", close=False)
        finally:
            if self._deferred is asyncio.current_task():  # not replaced by a pipelined request's own
                self._deferred = None
                self.resume(PAUSE_LOOKUP)

    def collect(self, req: Request, then: Callable[[], None]) -> None:
        """Read ``req``'s whole body (a small one: the caller checked its ``Content-Length``) into
        ``req.body``, then call ``then`` -- at once when it is already here. A client that does not send
        it within the header timeout gets a 408."""
        self._continue(req)
        if req.complete:
            then()
            return
        self._collect = then
        self._collect_timer = self.loop.call_later(self.state.limits.header_timeout, self._collect_timeout)

    def _continue(self, req: Request) -> None:
        """``100 Continue`` to a client that waits for it before sending the body (RFC 9110 §10.1.1)."""
        expect = req.expect
        if expect and req.version == "1.1" and not req.complete and expect.strip().lower() == b"100-continue":
            self.write(CONTINUE_100)

    def _stop_collecting(self) -> None:
        self._collect = None
        if self._collect_timer is not None:
            self._collect_timer.cancel()
            self._collect_timer = None

    def _collect_timeout(self) -> None:
        self._collect_timer = None
        if self._collect is not None and not self._closed and self._active is not None:
            self._stop_collecting()
            self.error(408, "body_timeout", close=True)

    def still_serving(self, req: Request) -> bool:
        """After an await: whether ``req`` is still the request to answer on an open connection."""
        return not self._closed and self._active is req

    def forward_to(
        self,
        req: Request,
        target: Target,
        extra: bytes,
        cookie: bytes | None,
        upgrade: bool,
        *,
        trusted: bool = True,
        host: bytes | None = None,
        drop: frozenset[bytes] = frozenset(),
        response_extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._continue(req)
        head = upstream_head(
            req,
            self.peer,
            extra,
            cookie,
            upgrade,
            trusted=trusted,
            host=host,
            drop=drop,
            scheme=self.state.scheme,
        )
        fwd = Forward(self, req, target, head, upgrade, response_extra=response_extra)
        self._forward = fwd
        fwd.start()

    def reply(self, status: int, data: bytes, close: bool) -> None:
        """Write a complete response built by the edge (``X-Request-Id`` is added here)."""
        self._status = status
        req = self._active
        self.write(with_request_id(data, req.request_id()) if req is not None else data)
        self._response_finished(close)

    def error(self, status: int, reason: str, *, close: bool) -> None:
        """An error page carrying the request id; logged with ``reason``."""
        req = self._active
        assert req is not None
        self.reason = reason
        close = close or not req.complete or not req.keep_alive or self.state.closing
        data = simple_response(
            status,
            page(status, request_id=req.request_id().decode("ascii")),
            content_type=HTML,
            close=close,
            keep_alive_10=req.version == "1.0" and not close,
            head_only=req.method == b"HEAD",
        )
        self.reply(status, data, close)

    # -- called by Forward --------------------------------------------------------------------
    def forward_finished(self, status: int, close: bool) -> None:
        self._status = status
        self._response_finished(close)

    def forward_failed(self, status: int, reason: str) -> None:
        self._forward = None
        self.error(status, reason, close=False)

    # -- end of an exchange -------------------------------------------------------------------
    def _response_finished(self, close: bool) -> None:
        self._response_done = True
        if close:
            self._close_after = True
        req = self._active
        if req is None:
            return
        if req.complete or self._close_after:
            self._exchange_done()

    def _exchange_done(self) -> None:
        req = self._active
        assert req is not None
        self._log(req)
        self._active = None
        self._forward = None
        if self._collect is not None or self._collect_timer is not None:
            self._stop_collecting()
        if self._close_after or not req.keep_alive or self.state.closing:
            self.close()
            return
        if self._looping:
            return
        if self._queue or self._pending_error or self._upgrade_pending:
            self._next_exchange()
        elif not self._closed:  # the common case: wait for the next request
            self.resume(PAUSE_PIPELINE)
            self._arm(_HEADER if self._incoming is not None else _IDLE)

    def _next_exchange(self) -> None:
        """Serve what waited for the exchange that ended: queued requests, a parse error, an upgrade
        that was not taken."""
        self._looping = True
        try:
            while self._active is None and self._queue and not self._closed:
                self._begin(self._queue.popleft())
        finally:
            self._looping = False
        if self._closed or self._active is not None:
            if self._active is not None and not self._active.complete:
                self.resume(PAUSE_PIPELINE)
            return
        if self._pending_error:
            self._active = Request(perf_counter())
            self.error(self._pending_error, "bad_request", close=True)
            return
        self.resume(PAUSE_PIPELINE)
        if self._upgrade_pending:  # the upgrade was not taken: carry on as HTTP
            self._upgrade_pending = False
            rest, self._after_upgrade = self._after_upgrade, b""
            self.resume(PAUSE_UPGRADE)
            self._arm(_IDLE)
            if rest:
                self.data_received(rest)
            return
        self._arm(_HEADER if self._incoming is not None else _IDLE)

    def _log(self, req: Request) -> None:
        """Count the exchange in the edge's stats; write its access line when the access log wants one."""
        seconds = perf_counter() - req.started
        deployment = self.deployment
        state = self.state
        if deployment:
            role = "proxy"
        else:
            routes = state.table.host(req.host)
            role = "provider" if routes is not None and routes.provider_path is not None else "none"
        state.stats.request(role, deployment, self._status, seconds, self.reason)
        access = state.access
        if not access.enabled():
            return
        access.write(
            client=self._client(req).decode("ascii", "backslashreplace"),
            method=req.method.decode("ascii", "backslashreplace") or "-",
            host=req.host.decode("ascii", "backslashreplace"),
            path=req.path().decode("ascii", "backslashreplace"),
            status=self._status,
            ms=seconds * 1000.0,
            deployment=deployment,
            user=self.user,
            decision=self.decision,
            reason=self.reason,
            request_id=req.request_id().decode("ascii"),
        )

    def _client(self, req: Request) -> bytes:
        """The client's address for the access line, behind the proxies the route trusts (the
        deployment's ``trusted_proxy_ips``; the provider's and unknown hosts': the default ones). A
        request without forwarding headers costs nothing more: its client is the peer."""
        peer = self.peer
        if not req.xff and not req.real_ip:
            return peer
        trust = DEFAULT_TRUST
        if self.deployment:
            routes = self.state.table.host(req.host)
            dep = routes.deployment if routes is not None else None
            if dep is not None:
                trust = dep.trust
        return trust.client(peer, req.xff, req.real_ip)

"""A lean Redis client for one command, ``GET``: the Redis session store's read on every request.

redis-py's asyncio client spends most of a request's CPU on a ``GET``: a connection pool, a lock per
command, command packing and a reply parser in Python. A session read needs none of that::

    get(key)  --> the next of a few connections (opened when first needed: TCP or TLS, then AUTH and
                  SELECT once; opened again after a loss)
              --> "GET key" queued; one write per event-loop turn carries every GET queued in that turn
    replies   <-- in order: each reply goes to the oldest caller still waiting on that connection (FIFO)

Replies are parsed by ``hiredis.Reader`` (C) when hiredis is installed, else by :class:`PureReader`,
which reads the replies ``AUTH``, ``SELECT`` and ``GET`` give (simple string, error, integer, bulk string,
nil). Each request is still one command and one round trip: nothing is sent per request besides ``GET``.
Measured in one process (32 tasks x 10,000 GETs of 600-byte values, uvloop, CPU time of the process):
redis-py 50-68 us per GET, this client 2.1-2.6 us with hiredis, 3.0-4.1 us with :class:`PureReader`.

Failures are :class:`~idgate.sessions.base.SessionStoreUnavailable` (the edge's 503), raised here, the one
boundary for this client: a refused or failed connect (after ``connect_timeout``), an ``AUTH`` or
``SELECT`` refused, a connection lost, an error reply, or a request left unanswered for ``timeout``
seconds, which cuts that connection (every caller waiting on it gets the error, the next request opens a
new one). A request on a connection that had been open before it and is lost before the reply is sent
once more, on a new connection (``GET`` is idempotent; a Redis that restarted fails once, invisibly).
Messages never carry the URL, a password or a key.

:func:`lean_address` reads the ``redis://`` / ``rediss://`` URL with redis-py's own parser, so both clients
read it alike; it answers ``None`` for a URL that asks for something only redis-py does (a query parameter
besides ``db``, ``ssl_ca_certs``, ``ssl_cert_reqs``, ``ssl_check_hostname``), and the store then reads
with redis-py. idgate takes no Sentinel or Cluster options (``redis_use_sentinel``, ``redis_use_cluster``
are refused by the config), so there is no such case here.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from redis.asyncio.connection import parse_url

from idgate.sessions.base import SessionStoreUnavailable

CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 1.0
CONNECTIONS = 2
_QUERY_KEYS = frozenset({"db", "ssl_ca_certs", "ssl_cert_reqs", "ssl_check_hostname"})
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


class ReplyError(Exception):
    """An error reply (``-ERR ...``), returned by a reader, never raised."""


class Reader(Protocol):
    """What this client needs of a RESP reader; ``hiredis.Reader`` is one."""

    def feed(self, data: bytes, /) -> None: ...

    def gets(self) -> object:
        """The next whole reply, or ``False`` until more bytes are fed."""


class PureReader:
    """The RESP2 replies of ``AUTH``, ``SELECT`` and ``GET`` in Python: ``+`` simple string, ``-`` error,
    ``:`` integer, ``$`` bulk string or nil. Anything else is a protocol error (the connection is cut)."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes, /) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def gets(self) -> object:
        buf, pos = self._buf, self._pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return False
        kind, line = buf[pos], bytes(buf[pos + 1 : end])
        if kind == 36:  # $
            size = int(line)
            if size < 0:
                self._pos = end + 2
                return None
            stop = end + 2 + size
            if len(buf) < stop + 2:
                return False
            self._pos = stop + 2
            return bytes(buf[end + 2 : stop])
        self._pos = end + 2
        if kind == 43:  # +
            return line
        if kind == 45:  # -
            return ReplyError(line.decode("utf-8", "replace"))
        if kind == 58:  # :
            return int(line)
        raise ValueError(f"unexpected RESP reply type {chr(kind)!r}")


def default_reader() -> Reader:
    """``hiredis.Reader`` when hiredis is installed, else :class:`PureReader`."""
    try:
        import hiredis
    except ImportError:  # pragma: no cover - hiredis is a dependency; the fallback is tested by injection
        return PureReader()
    reader: Reader = hiredis.Reader(replyError=ReplyError)
    return reader


@dataclass(frozen=True)
class Address:
    """Where and how to connect: host, port, ``AUTH`` credentials, ``SELECT`` db, TLS context (rediss)."""

    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = None


def lean_address(url: str) -> Address | None:
    """``url`` as :class:`Address`, or ``None`` when it asks for what only redis-py does (see the module)."""
    parsed = parse_url(url)
    query = set(parsed) - {"host", "port", "username", "password", "connection_class"}
    if not query <= _QUERY_KEYS:
        return None
    params: dict[str, object] = dict(parsed)
    tls = None
    if url[:9].lower() == "rediss://":
        tls = ssl.create_default_context()
        verify = _CERT_REQS.get(str(params.get("ssl_cert_reqs", "required")))
        if verify is None:
            return None  # redis-py refuses it, with its own message
        tls.check_hostname = verify != ssl.CERT_NONE and params.get("ssl_check_hostname") is not False
        tls.verify_mode = verify
        if params.get("ssl_ca_certs"):
            tls.load_verify_locations(cafile=str(params["ssl_ca_certs"]))
    return Address(
        host=str(params.get("host", "localhost")),
        port=int(str(params.get("port", 6379))),
        db=int(str(params.get("db", 0))),
        username=str(params["username"]) if params.get("username") else None,
        password=str(params["password"]) if params.get("password") else None,
        tls=tls,
    )


def command(*args: bytes) -> bytes:
    """One RESP command frame: an array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


class _Lost(SessionStoreUnavailable):
    """The connection was lost before the reply: a request may be sent once more on a new one."""


class _Connection(asyncio.Protocol):
    """One connection: frames queued and written once per loop turn, replies handed out FIFO."""

    def __init__(self, reader: Reader, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = reader
        self._timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[tuple[asyncio.Future[object], float]] = deque()
        self._out: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        reader, waiting = self._reader, self._waiting
        try:
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                future = waiting.popleft()[0]
                if not future.done():  # its caller may have been cancelled
                    future.set_result(reply)
        except Exception as exc:  # a reply that is not RESP, or one nobody asked for: the stream is lost
            self._fail(SessionStoreUnavailable(f"redis: unreadable reply ({type(exc).__name__})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(_Lost("redis: connection lost"))

    # -- requests
    def send(self, frame: bytes) -> asyncio.Future[object]:
        """Queue ``frame``; the future gets its reply (or the connection's failure)."""
        if self.closed:
            raise _Lost("redis: connection lost")
        future: asyncio.Future[object] = self._loop.create_future()
        deadline = self._loop.time() + self._timeout
        self._waiting.append((future, deadline))
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(frame)
        if self._watchdog is None:
            self._watchdog = self._loop.call_at(deadline, self._check)
        return future

    def _flush(self) -> None:
        if self._out and not self.closed and self._transport is not None:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def _check(self) -> None:
        """The oldest request's deadline: cut the connection if it is still unanswered, else wait on."""
        self._watchdog = None
        if not self._waiting:
            return
        deadline = self._waiting[0][1]
        if self._loop.time() >= deadline:
            self._fail(SessionStoreUnavailable(f"redis: no reply within {self._timeout:g} s"))
        else:
            self._watchdog = self._loop.call_at(deadline, self._check)

    def _fail(self, error: SessionStoreUnavailable) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():
                future.set_exception(error)
        self._out.clear()

    def close(self) -> None:
        self._fail(SessionStoreUnavailable("redis: client closed"))


class GetClient:
    """``GET`` over ``connections`` pipelined connections to ``address``; see the module docstring."""

    def __init__(
        self,
        address: Address,
        *,
        connections: int = CONNECTIONS,
        timeout: float = COMMAND_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        reader: Callable[[], Reader] = default_reader,
    ) -> None:
        self._address = address
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._reader = reader
        self._slots: list[_Connection | None] = [None] * max(1, connections)
        self._opening: list[asyncio.Future[_Connection] | None] = [None] * len(self._slots)
        self._next = 0
        self._closed = False

    async def get(self, key: bytes) -> bytes | None:
        """The value at ``key`` (``None``: no such key); :class:`SessionStoreUnavailable` on any failure."""
        slot = self._next
        self._next = (slot + 1) % len(self._slots)
        conn = self._slots[slot]
        fresh = conn is None or conn.closed
        if conn is None or conn.closed:
            conn = await self._open(slot)
        frame = b"*2\r\n$3\r\nGET\r\n$%d\r\n%b\r\n" % (len(key), key)
        try:
            reply = await conn.send(frame)
        except _Lost:
            if fresh:
                raise
            reply = await (await self._open(slot)).send(frame)
        if reply is None or isinstance(reply, bytes):
            return reply
        if isinstance(reply, Exception):
            raise SessionStoreUnavailable(f"redis: GET refused ({_code(reply)})")
        raise SessionStoreUnavailable(f"redis: GET answered {type(reply).__name__}")

    async def _open(self, slot: int) -> _Connection:
        """The connection in ``slot``, opened once for every caller that needs it meanwhile."""
        conn = self._slots[slot]
        if conn is not None and not conn.closed:
            return conn
        if self._closed:
            raise SessionStoreUnavailable("redis: client closed")
        opening = self._opening[slot]
        if opening is None:
            opening = self._opening[slot] = asyncio.ensure_future(self._connect())
            opening.add_done_callback(lambda done: self._opened(slot, done))
        return await asyncio.shield(opening)

    def _opened(self, slot: int, done: asyncio.Future[_Connection]) -> None:
        self._opening[slot] = None
        if not done.cancelled() and done.exception() is None:
            if self._closed:  # closed while it was being opened
                done.result().close()
            else:
                self._slots[slot] = done.result()

    async def _connect(self) -> _Connection:
        a = self._address
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self._reader(), self._timeout),
                    a.host,
                    a.port,
                    ssl=a.tls,
                    server_hostname=a.host if a.tls is not None else None,
                )
                steps: list[tuple[str, asyncio.Future[object]]] = []
                if a.username or a.password:
                    user = (a.username.encode(),) if a.username else ()
                    steps.append(("AUTH", conn.send(command(b"AUTH", *user, (a.password or "").encode()))))
                if a.db:
                    steps.append(("SELECT", conn.send(command(b"SELECT", b"%d" % a.db))))
                for name, step in steps:
                    reply = await step
                    if isinstance(reply, Exception):
                        raise SessionStoreUnavailable(f"redis: {name} refused ({_code(reply)})")
        except SessionStoreUnavailable:
            if conn is not None:
                conn.close()
            raise
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            if conn is not None:
                conn.close()
            raise SessionStoreUnavailable(f"redis: cannot connect ({type(exc).__name__})") from None
        return conn

    async def close(self) -> None:
        self._closed = True
        for conn in self._slots:
            if conn is not None:
                conn.close()
        self._slots = [None] * len(self._slots)


def _code(reply: Exception) -> str:
    """The error reply's code (``WRONGPASS``, ``NOAUTH``, ``LOADING``...): its first word only."""
    return str(reply).split(" ", 1)[0][:32] or "error"

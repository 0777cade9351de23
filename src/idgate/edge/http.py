"""HTTP/1.1 wire helpers: the parsed request head, framing checks, and serialising heads and bodies.

Everything here works on ``bytes`` straight from httptools' callbacks; no header dicts, no URL objects.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from typing import Final

from idgate.proxy.headers import stripped_names
from idgate.web.page_headers import PAGE_HEADERS_B
from idgate.wire import EDGE_HEADERS, HOP_BY_HOP

REASONS: dict[int, bytes] = {
    100: b"Continue",
    101: b"Switching Protocols",
    200: b"OK",
    202: b"Accepted",
    204: b"No Content",
    302: b"Found",
    304: b"Not Modified",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    413: b"Content Too Large",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
}

#: ``ord("_")``: ``UNDERSCORE in name`` is a byte search (~40 ns), ``b"_" in name`` a substring search
#: through the buffer protocol (~200 ns here), once per request header on the edge's hot path.
UNDERSCORE = 0x5F
#: ``Connection`` tokens that name no header to remove (requests and responses alike).
_CONNECTION_STANDARD = frozenset({b"close", b"keep-alive", b"upgrade", b""})
IDEMPOTENT: frozenset[bytes] = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
CRLF = b"\r\n"
#: A client's ``X-Request-Id`` is kept only when it is a short token of these characters.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
_UNSAFE = b" "  # stands for "more than one X-Request-Id": never safe


def _new_prefix() -> bytes:
    return os.urandom(6).hex().encode() + b"-"


_id_prefix = _new_prefix()
_id_counter = itertools.count(1)


def _reseed() -> None:
    """A forked worker gets its own prefix and counter (ids stay distinct across processes)."""
    global _id_prefix, _id_counter  # noqa: PLW0603
    _id_prefix = _new_prefix()
    _id_counter = itertools.count(1)


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> bytes:
    """A fresh request id: a per-process random prefix and a counter (no randomness per request)."""
    return b"%s%x" % (_id_prefix, next(_id_counter))


class HeadError(Exception):
    """The request head cannot be accepted; ``status`` is the answer (400, 413, 414, 431...)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Request:
    """One request as the edge keeps it: the head's few meaningful fields and the forwardable rest.

    ``headers`` holds the end-to-end headers in arrival order, without hop-by-hop ones, without
    ``X-Forwarded-*`` (the edge sets those), without identity headers (:class:`HeaderRules`), without
    ``Cookie`` (kept apart in ``cookies``) and without ``Expect`` (the edge answers ``100 Continue``
    itself).
    """

    __slots__ = (
        "accept",
        "authorization",
        "body",
        "chunked",
        "client_id",
        "complete",
        "connection",
        "content_length",
        "cookies",
        "expect",
        "header_bytes",
        "headers",
        "host",
        "hosts",
        "keep_alive",
        "lengths",
        "method",
        "origin",
        "real_ip",
        "rid",
        "rules",
        "started",
        "te",
        "tes",
        "upgrade",
        "url",
        "version",
        "xff",
        "xfm",
        "xfp",
        "xfu",
        "xrw",
    )

    def __init__(self, started: float, rules: HeaderRules | None = None) -> None:
        self.started = started
        self.rules = DEFAULT_RULES if rules is None else rules
        self.url = b""
        self.method = b""
        self.version = "1.1"
        self.keep_alive = True
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.host = b""
        self.hosts = 0
        self.content_length: int | None = None
        self.lengths = 0
        self.te = b""
        self.tes = 0
        self.chunked = False
        self.connection = b""
        self.upgrade = b""
        self.expect = b""
        self.cookies: list[bytes] = []
        self.xff = b""
        self.xfp = b""
        self.xfu = b""  # X-Forwarded-Uri / -Method: what a proxy in front asks /oauth/auth about
        self.xfm = b""
        self.accept = b""
        self.xrw = b""
        self.origin = b""
        self.authorization = b""
        self.real_ip = b""
        self.client_id = b""  # the client's X-Request-Id, as sent
        self.rid = b""  # this request's id, once :meth:`request_id` decided it
        self.body: list[bytes] = []  # chunks received while the request waits its turn
        self.complete = False

    def add_header(self, name: bytes, value: bytes) -> None:
        """Classify one header field (called from the parser callback).

        One dict lookup decides (:class:`HeaderRules`): most headers pass as they came; the few the edge
        reads, controls or removes each have their method.
        """
        key = name.lower()
        rules = self.rules
        role = rules.roles.get(key)
        if role is None:
            role = rules.classify(key)
        if role is _KEEP:
            self.headers.append((name, value))
        else:
            role(self, name, value)

    # -- what a header the edge reads does to the request (see ``_ROLES``) --------------------------
    def _host(self, name: bytes, value: bytes) -> None:
        self.host = value
        self.hosts += 1
        self.headers.append((name, value))

    def _cookie(self, name: bytes, value: bytes) -> None:
        self.cookies.append(value)

    def _content_length(self, name: bytes, value: bytes) -> None:
        self.lengths += 1
        self.content_length = int(value) if value.isdigit() else -1

    def _transfer_encoding(self, name: bytes, value: bytes) -> None:
        self.tes += 1
        self.te = value

    def _connection(self, name: bytes, value: bytes) -> None:
        self.connection = value if not self.connection else self.connection + b"," + value

    def _upgrade(self, name: bytes, value: bytes) -> None:
        self.upgrade = value

    def _keep(self, name: bytes, value: bytes) -> None:
        """Any other header: forwarded as it came."""
        self.headers.append((name, value))

    def _drop(self, name: bytes, value: bytes) -> None:
        """Hop-by-hop, or an identity header only the edge may set: not forwarded."""

    def _xff(self, name: bytes, value: bytes) -> None:
        self.xff = value if not self.xff else self.xff + b", " + value

    def _xfp(self, name: bytes, value: bytes) -> None:
        self.xfp = value

    def _xfu(self, name: bytes, value: bytes) -> None:
        self.xfu = value

    def _xfm(self, name: bytes, value: bytes) -> None:
        self.xfm = value

    def _expect(self, name: bytes, value: bytes) -> None:
        self.expect = value

    def _request_id(self, name: bytes, value: bytes) -> None:
        self.client_id = _UNSAFE if self.client_id else value  # the edge sends its own

    def _accept(self, name: bytes, value: bytes) -> None:
        self.accept = value
        self.headers.append((name, value))

    def _xrw(self, name: bytes, value: bytes) -> None:
        self.xrw = value
        self.headers.append((name, value))

    def _origin(self, name: bytes, value: bytes) -> None:
        self.origin = value
        self.headers.append((name, value))

    def _authorization(self, name: bytes, value: bytes) -> None:
        self.authorization = value
        self.headers.append((name, value))

    def _real_ip(self, name: bytes, value: bytes) -> None:
        self.real_ip = value
        self.headers.append((name, value))

    def check_framing(self, max_body: int | None) -> None:
        """Refuse ambiguous or unsupported framing (RFC 9112 §6.3); sets ``chunked``."""
        if self.hosts > 1:
            raise HeadError(400, "more than one Host header")
        if self.version == "1.1" and self.hosts == 0:
            raise HeadError(400, "no Host header")
        if self.tes:
            if self.lengths:
                raise HeadError(400, "both Content-Length and Transfer-Encoding")
            if self.tes > 1 or self.te.strip().lower() != b"chunked":
                raise HeadError(400, "unsupported Transfer-Encoding")
            if self.version != "1.1":
                raise HeadError(400, "Transfer-Encoding in an HTTP/1.0 request")
            self.chunked = True
        elif self.lengths:
            if self.lengths > 1:
                raise HeadError(400, "more than one Content-Length")
            if self.content_length is None or self.content_length < 0:
                raise HeadError(400, "invalid Content-Length")
            if max_body is not None and self.content_length > max_body:
                raise HeadError(413, "request body too large")
        if self.method == b"CONNECT":
            raise HeadError(405, "CONNECT is not supported")

    def request_id(self) -> bytes:
        """This request's id: the client's ``X-Request-Id`` when it is a short safe token, else a new one."""
        rid = self.rid
        if not rid:
            cid = self.client_id
            rid = self.rid = cid if cid and _SAFE_ID.fullmatch(cid) else new_request_id()
        return rid

    @property
    def has_body(self) -> bool:
        """Whether body bytes follow the head."""
        return self.chunked or bool(self.content_length)

    @property
    def wants_upgrade(self) -> bool:
        """A WebSocket handshake (the only upgrade the edge tunnels)."""
        return (
            self.method == b"GET"
            and self.upgrade.strip().lower() == b"websocket"
            and b"upgrade" in self.connection.lower()
        )

    def path(self) -> bytes:
        """The request target's path, without the query (``*`` and absolute forms kept as is)."""
        q = self.url.find(b"?")
        return self.url if q < 0 else self.url[:q]

    def connection_tokens(self) -> frozenset[bytes]:
        """Header names listed in ``Connection`` (besides close/keep-alive/upgrade): hop-by-hop too."""
        if not self.connection:
            return frozenset()
        tokens = {t.strip().lower() for t in self.connection.split(b",")}
        return frozenset(tokens - _CONNECTION_STANDARD)


_Role = Callable[[Request, bytes, bytes], None]
_KEEP: Final[_Role] = Request._keep
#: What the edge does with a request header it reads, by lower-case name.
_READERS: dict[bytes, _Role] = {
    b"host": Request._host,
    b"cookie": Request._cookie,
    b"content-length": Request._content_length,
    b"transfer-encoding": Request._transfer_encoding,
    b"connection": Request._connection,
    b"upgrade": Request._upgrade,
    b"x-forwarded-for": Request._xff,
    b"x-forwarded-proto": Request._xfp,
    b"x-forwarded-uri": Request._xfu,
    b"x-forwarded-method": Request._xfm,
    b"expect": Request._expect,
    b"x-request-id": Request._request_id,
    b"accept": Request._accept,
    b"x-requested-with": Request._xrw,
    b"origin": Request._origin,
    b"authorization": Request._authorization,
    b"x-real-ip": Request._real_ip,
}
#: Request headers the edge reads or controls (:data:`idgate.wire.EDGE_HEADERS`), by lower-case name:
#: those it reads as above, the others (hop-by-hop, ``X-Forwarded-*`` it sets itself) dropped.
_ROLES: dict[bytes, _Role] = {name: _READERS.get(name, Request._drop) for name in sorted(EDGE_HEADERS)}
#: Names most requests carry, classified when the rules are built (so the first request does not pay).
_COMMON = (
    b"user-agent", b"accept-encoding", b"accept-language", b"referer", b"cache-control", b"pragma",
    b"content-type", b"priority", b"dnt", b"upgrade-insecure-requests", b"if-none-match",
    b"if-modified-since", b"sec-fetch-site", b"sec-fetch-mode", b"sec-fetch-user", b"sec-fetch-dest",
    b"sec-ch-ua", b"sec-ch-ua-mobile", b"sec-ch-ua-platform", b"sec-websocket-key",
    b"sec-websocket-version", b"sec-websocket-extensions", b"sec-websocket-protocol", b"x-csrf-token",
)  # fmt: skip
#: How many names a :class:`HeaderRules` remembers beyond those it starts with.
MEMO_NAMES = 1024


class HeaderRules:
    """What each request header is to the edge, by lower-case name: read (``Host``, ``Cookie`` ...),
    controlled (hop-by-hop, ``X-Forwarded-*``: set by the edge), removed (identity headers), or kept.

    Identity headers are removed in any case and with ``_`` for ``-`` (a CGI-style upstream reads both
    as ``HTTP_X_REMOTE_USER``); so are the ``_`` twins of every header the edge reads or controls. The
    names and prefixes come from :func:`idgate.proxy.headers.stripped_names` (``idgate.identity_headers``).

    ``roles`` answers with one dict lookup; a name it does not hold yet is classified by
    :meth:`classify` (the prefix checks) and remembered, up to :data:`MEMO_NAMES` names, so a browser's
    headers cost one lookup each and a client sending endless new names costs at most the prefix checks.
    """

    __slots__ = ("_room", "names", "prefixes", "roles")

    def __init__(self, names: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.names = frozenset(n.encode() for n in names)
        self.prefixes = tuple(p.encode() for p in prefixes)
        self.roles: dict[bytes, _Role] = dict(_ROLES)
        for key in self.names:
            self.roles.setdefault(key, Request._drop)  # never one the edge reads (the config refuses it)
        self._room = len(self.roles) + len(_COMMON) + MEMO_NAMES
        for key in _COMMON:
            self.classify(key)

    @classmethod
    def of(cls, strip: tuple[str, ...] = (), allow: tuple[str, ...] = ()) -> HeaderRules:
        """The rules of ``idgate.identity_headers``: ``strip`` added to the defaults, ``allow`` taken out."""
        names, prefixes = stripped_names(strip, allow)
        return cls(names, prefixes)

    def classify(self, key: bytes) -> _Role:
        """The role of lower-case ``key``, not in ``roles`` yet; remembered there while there is room."""
        if UNDERSCORE in key:
            norm = key.replace(b"_", b"-")
            twin = norm in _ROLES  # X_Forwarded_For, Content_Length, X_Real_IP ...
        else:
            norm, twin = key, False
        if twin or norm in self.names or norm.startswith(self.prefixes):
            role: _Role = Request._drop
        else:
            role = _KEEP
        roles = self.roles
        if len(roles) < self._room:
            roles[key] = role
        return role


DEFAULT_RULES = HeaderRules.of()


def upstream_head(
    req: Request,
    peer: bytes,
    extra: bytes,
    cookie: bytes | None,
    upgrade: bool,
    *,
    trusted: bool = True,
    host: bytes | None = None,
    drop: frozenset[bytes] = frozenset(),
    scheme: bytes = b"http",
) -> bytes:
    """The request head sent upstream: HTTP/1.1, keep-alive, client headers filtered, ours added.

    ``cookie`` replaces the client's Cookie header(s) (``None``: drop it); ``extra`` are the edge's
    own header lines, wire-ready (identity, ``X-Idgate-Deployment``: see :func:`header_lines`). A
    header named in the client's ``Connection`` is removed (RFC 9110 §7.6.1), but only among the
    client's headers: it cannot remove ours. ``trusted``:
    the peer is a trusted proxy, so its ``X-Forwarded-For``/``-Proto`` and ``X-Real-IP`` are kept;
    otherwise they are the edge's own view. ``host`` replaces ``Host`` (``pass_host_header: false``);
    ``drop`` names (lower-case) client headers the edge sets itself (``authorization``). ``scheme`` is
    the edge's own listener's (``b"https"`` with ``idgate.tls``): the ``X-Forwarded-Proto`` sent unless a
    trusted proxy gave one.
    """
    parts = [req.method, b" ", req.url, b" HTTP/1.1\r\n"]
    named = req.connection_tokens()
    if host is not None:
        drop = drop | {b"host"}
        parts += (b"Host: ", host, CRLF)
    if not trusted and req.real_ip:
        drop = drop | {b"x-real-ip"}
    for name, value in req.headers:
        if (named or drop) and ((low := name.lower()) in named or low in drop):
            continue
        parts += (name, b": ", value, CRLF)
    if cookie:
        parts += (b"Cookie: ", cookie, CRLF)
    if trusted:
        xff = req.xff + b", " + peer if req.xff else peer
        xfp = req.xfp if req.xfp in (b"http", b"https") else scheme
    else:
        xff, xfp = peer, scheme
    parts += (b"X-Forwarded-For: ", xff, b"\r\nX-Forwarded-Proto: ", xfp, CRLF)
    if req.host:
        parts += (b"X-Forwarded-Host: ", req.host, CRLF)
    parts += (b"X-Request-Id: ", req.request_id(), CRLF, extra)
    if req.chunked:
        parts.append(b"Transfer-Encoding: chunked\r\n")
    elif req.content_length is not None:
        parts += (b"Content-Length: ", b"%d" % req.content_length, CRLF)
    if upgrade:
        parts += (b"Connection: Upgrade\r\nUpgrade: ", req.upgrade, CRLF)
    parts.append(CRLF)
    return b"".join(parts)


def header_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    """``Name: value`` lines, each ending in CRLF (values already checked: no CR, LF or NUL)."""
    return b"".join([b"%s: %s\r\n" % pair for pair in headers])


def response_head(
    version: bytes, status: int, headers: list[tuple[bytes, bytes]], reason: bytes | None = None
) -> bytes:
    """A status line and headers, ready to write."""
    if reason is None:
        reason = REASONS.get(status, b"Unknown")
    parts = [version, b" %d " % status, reason, CRLF]
    for name, value in headers:
        parts += (name, b": ", value, CRLF)
    parts.append(CRLF)
    return b"".join(parts)


#: A response header line that does not pass as it came: hop-by-hop, or framing the edge writes itself.
#: Matched in the lower-cased head: from the CRLF before the line to its value's end (before its CRLF).
_HOP_LINE = re.compile(rb"\r\n(" + b"|".join(sorted(map(re.escape, HOP_BY_HOP))) + rb"):[ \t]*([^\r]*)")
#: The most response head bytes the edge reads from an upstream before it gives up (502).
MAX_RESPONSE_HEAD = 64 * 1024


class UpstreamHead:
    """A response head from an upstream, ready to relay: ``parts`` are its status line (as HTTP/1.1)
    and its end-to-end header lines as they came, each ending in CRLF, for ``writelines``; the framing
    headers are taken out and read (``content_length``; ``transfer_encoding`` lower-case, several
    joined with ``, ``)."""

    __slots__ = ("content_length", "parts", "transfer_encoding")

    def __init__(
        self, parts: list[bytes], content_length: bytes | None, transfer_encoding: bytes | None
    ) -> None:
        self.parts = parts
        self.content_length = content_length
        self.transfer_encoding = transfer_encoding


def relay_head(head: bytes) -> UpstreamHead:
    """Split a response head (status line and header lines, each ending in CRLF, as httptools accepted
    them: strict CRLF, no obs-fold) into what passes and what the edge decides.

    Hop-by-hop lines (RFC 9110 §7.6.1) and the headers named in ``Connection`` are cut; the lines around
    them are passed as slices of ``head``, without parsing each header: a response of ten headers costs
    one scan of a regular expression, not ten parser callbacks.
    """
    if not head.startswith(b"HTTP/1.1 "):
        head = b"HTTP/1.1" + head[head.find(b" ") :]
    parts: list[bytes] = []
    last = 0
    content_length = te = None
    named: set[bytes] | None = None
    for m in _HOP_LINE.finditer(head.lower()):
        start, end = m.span()
        if start > last:
            parts.append(head[last : start + 2])
        last = end + 2
        name, value = m.groups()
        if name == b"content-length":
            content_length = value.rstrip(b" \t")
        elif name == b"transfer-encoding":
            value = value.rstrip(b" \t")
            te = value if te is None else te + b", " + value
        elif name == b"connection" and value not in _CONNECTION_STANDARD:
            tokens = {t.strip(b" \t") for t in value.split(b",")} - _CONNECTION_STANDARD
            named = tokens if named is None else named | tokens
    if last < len(head):
        parts.append(head[last:])
    if named:
        parts = _without(b"".join(parts), named)
    return UpstreamHead(parts, content_length, te)


def _without(head: bytes, names: set[bytes]) -> list[bytes]:
    """``head`` without the header lines called ``names`` (lower-case): those a ``Connection`` lists."""
    lines = head.split(CRLF)
    kept = [lines[0]] + [line for line in lines[1:-1] if line.partition(b":")[0].lower() not in names]
    return [CRLF.join(kept) + CRLF]


def with_request_id(data: bytes, rid: bytes) -> bytes:
    """``data`` (a complete response the edge built) with ``X-Request-Id: rid`` after its status line."""
    return data.replace(CRLF, b"\r\nX-Request-Id: " + rid + CRLF, 1)


def simple_response(
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    headers: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
    keep_alive_10: bool = False,
    head_only: bool = False,
) -> bytes:
    """A complete response the edge answers itself (Content-Length framed)."""
    out = list(headers) if headers else []
    if body or status >= 200:
        out.append((b"Content-Type", content_type))
        out.append((b"Content-Length", b"%d" % len(body)))
    out.append((b"Cache-Control", b"no-store"))
    if content_type.startswith(b"text/html"):
        out.extend(PAGE_HEADERS_B)
    if close:
        out.append((b"Connection", b"close"))
    elif keep_alive_10:
        out.append((b"Connection", b"keep-alive"))
    head = response_head(b"HTTP/1.1", status, out)
    return head if head_only else head + body


def chunk(data: bytes) -> list[bytes]:
    """``data`` as one chunk of a chunked body (for ``transport.writelines``)."""
    return [b"%x\r\n" % len(data), data, CRLF]

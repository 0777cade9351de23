"""HTTP attacks on the edge of the running product (raw sockets): request smuggling, oversized heads and
URLs, slow clients, ``h2c`` upgrades, WebSocket upgrades without a session or from a foreign origin."""

from __future__ import annotations

import socket
import time

import pytest
from tests.e2e.harness import Running, Upstream
from tests.security.rawhttp import exchange, responses, status

pytestmark = pytest.mark.e2e


def host(idgate: Running, service: str = "grafana") -> bytes:
    return f"{service}.localhost:{idgate.port}".encode()


SMUGGLING = {
    "cl_and_te": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: {h}\r\n\r\n",
    "te_and_cl": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 40\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: {h}\r\n\r\n",
    "duplicate_cl": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0\r\n"
    b"Content-Length: 40\r\n\r\nGET /admin HTTP/1.1\r\nHost: {h}\r\n\r\n",
    "cl_list": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nContent-Length: 0, 40\r\n\r\n",
    "te_obfuscated": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: xchunked\r\n\r\n",
    "te_duplicate": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    "te_space_before_colon": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding : chunked\r\n"
    b"\r\n0\r\n\r\n",
    "te_in_http10": b"POST /api/health HTTP/1.0\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "malformed_chunk_size": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nhello\r\n0\r\n\r\n",
    "chunk_size_overflow": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "chunk_without_crlf": b"POST /api/health HTTP/1.1\r\nHost: {h}\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhelloXX0\r\n\r\n",
    "bare_cr_in_header": b"GET /api/health HTTP/1.1\r\nHost: {h}\r\nX-A: a\rX-Forwarded-Email: x@y\r\n\r\n",
    "bare_lf_line_end": b"GET /api/health HTTP/1.1\nHost: {h}\nX-A: a\n\n",
    "obs_fold": b"GET /api/health HTTP/1.1\r\nHost: {h}\r\nX-A: a\r\n X-Forwarded-Email: x@y\r\n\r\n",
    "two_hosts": b"GET /api/health HTTP/1.1\r\nHost: {h}\r\nHost: evil.example\r\n\r\n",
    "no_host": b"GET /api/health HTTP/1.1\r\n\r\n",
    "nul_in_header": b"GET /api/health HTTP/1.1\r\nHost: {h}\r\nX-A: a\x00b\r\n\r\n",
    "space_in_name": b"GET /api/health HTTP/1.1\r\nHost: {h}\r\nX Forwarded Email: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_ambiguous_framing_is_refused_and_never_forwarded(
    idgate: Running, upstream: Upstream, name: str
) -> None:
    upstream.clear()
    raw = SMUGGLING[name].replace(b"{h}", host(idgate))
    got = exchange(idgate.port, raw, wait_close=True, timeout=3)
    assert status(got) in (400, 501), (name, got[:200])
    assert responses(got) == 1, (name, got)  # no second (smuggled) request was answered
    assert upstream.seen == [], name


def test_oversized_headers_are_431(idgate: Running) -> None:
    raw = b"GET /api/health HTTP/1.1\r\nHost: " + host(idgate) + b"\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert status(exchange(idgate.port, raw, wait_close=True)) == 431


def test_many_headers_are_431(idgate: Running) -> None:
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    raw = b"GET /api/health HTTP/1.1\r\nHost: " + host(idgate) + b"\r\n" + lines + b"\r\n"
    assert status(exchange(idgate.port, raw, wait_close=True)) == 431


def test_oversized_url_is_414(idgate: Running) -> None:
    raw = b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: " + host(idgate) + b"\r\n\r\n"
    assert status(exchange(idgate.port, raw, wait_close=True)) == 414


def test_a_slow_client_is_cut_off_and_does_not_block_others(idgate: Running) -> None:
    """Slowloris: a head that never ends is answered 408 (or closed), while other clients are served."""
    slow = socket.create_connection(("127.0.0.1", idgate.port))
    slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: " + host(idgate) + b"\r\nX-A: ")
    try:
        started = time.monotonic()
        # another client is served at once
        ok = exchange(idgate.port, b"GET /api/health HTTP/1.1\r\nHost: " + host(idgate) + b"\r\n\r\n")
        assert status(ok) == 200
        assert time.monotonic() - started < 2
        slow.settimeout(60)
        got = b""
        while chunk := slow.recv(4096):
            got += chunk
        assert got == b"" or status(got) == 408
        assert time.monotonic() - started < 60
    finally:
        slow.close()


def test_h2c_upgrade_is_not_tunnelled(idgate: Running, upstream: Upstream) -> None:
    """An ``Upgrade: h2c`` must not open a tunnel that bypasses per-request authentication."""
    upstream.clear()
    raw = (
        b"GET /api/health HTTP/1.1\r\nHost: " + host(idgate) + b"\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    got = exchange(idgate.port, raw)
    assert status(got) != 101
    for seen in upstream.seen:
        assert "h2c" not in seen.headers.get("Upgrade", "").lower()
    # and an authenticated path still needs a session
    raw = raw.replace(b"/api/health", b"/admin")
    assert status(exchange(idgate.port, raw)) in (302, 401)


def test_http2_prior_knowledge_preface_is_refused(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    got = exchange(idgate.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", wait_close=True, timeout=3)
    assert status(got) in (0, 400, 404, 405, 505)
    assert upstream.seen == []


def _ws(idgate: Running, origin: bytes, cookie: bytes = b"") -> bytes:
    return (
        b"GET /ws HTTP/1.1\r\nHost: " + host(idgate) + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Origin: " + origin + b"\r\n" + (b"Cookie: " + cookie + b"\r\n" if cookie else b"") + b"\r\n"
    )


def test_websocket_without_session_is_refused(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    got = exchange(idgate.port, _ws(idgate, b"http://grafana.localhost:%d" % idgate.port))
    assert status(got) in (302, 401, 403)
    assert upstream.seen == []


def test_websocket_with_a_forged_session_cookie_is_refused(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    got = exchange(idgate.port, _ws(idgate, b"https://evil.example", b"_oauth2_proxy=forged"))
    assert status(got) in (302, 401, 403)
    assert upstream.seen == []

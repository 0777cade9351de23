"""WebSocket upgrades with a valid session: a foreign ``Origin`` (cross-site WebSocket hijacking) is
refused; the deployment's own origin is let through."""

from __future__ import annotations

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream
from tests.security.flows import cookie_header, sign_in
from tests.security.rawhttp import exchange, status

pytestmark = pytest.mark.e2e


def handshake(idgate: Running, origin: str, cookie: str) -> bytes:
    return (
        f"GET /ws HTTP/1.1\r\nHost: grafana.localhost:{idgate.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\nCookie: {cookie}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://grafana.localhost.evil.example", "null", "http://prometheus.localhost"],
)
async def test_foreign_origin_is_refused_even_with_a_session(
    idgate: Running, upstream: Upstream, origin: str
) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        cookie = cookie_header(b, idgate.url("grafana"))
    upstream.clear()
    got = exchange(idgate.port, handshake(idgate, origin, cookie))
    assert status(got) == 403, got[:300]
    assert upstream.seen == []


async def test_own_origin_with_a_session_reaches_the_upstream(idgate: Running, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        cookie = cookie_header(b, idgate.url("grafana"))
    upstream.clear()
    exchange(idgate.port, handshake(idgate, f"http://grafana.localhost:{idgate.port}", cookie))
    assert [s.target for s in upstream.seen] == ["/ws"]

"""With ``idgate.tls`` the edge's own scheme is https: what it tells the upstream (``X-Forwarded-Proto``)
and what decides ``Secure`` on the cookies it sets. A trusted proxy in front still speaks for the client."""

from __future__ import annotations

import pytest

from idgate.edge.dispatch import _proto
from idgate.edge.http import Request, upstream_head


def request(xfp: bytes | None) -> Request:
    req = Request(0.0)
    req.method, req.url = b"GET", b"/"
    req.add_header(b"Host", b"app.test")
    if xfp is not None:
        req.add_header(b"X-Forwarded-Proto", xfp)
    return req


def forwarded_proto(req: Request, *, trusted: bool, scheme: bytes) -> bytes:
    head = upstream_head(req, b"192.0.2.7", b"", None, False, trusted=trusted, scheme=scheme)
    lines = [line for line in head.split(b"\r\n") if line.lower().startswith(b"x-forwarded-proto:")]
    assert len(lines) == 1, head
    return lines[0].split(b":", 1)[1].strip()


@pytest.mark.parametrize(
    ("xfp", "trusted", "scheme", "proto"),
    [
        (None, False, b"https", "https"),  # a browser straight to idgate's TLS listener
        (b"http", False, b"https", "https"),  # a client's own claim is not believed
        (None, True, b"https", "https"),  # loopback (trusted by default), no header: our own view
        (b"http", True, b"https", "http"),  # a trusted proxy that received plain http says so
        (b"https", False, b"http", "http"),  # plain listener: unchanged
        (None, True, b"http", "http"),
        (b"https", True, b"http", "https"),
    ],
)
def test_the_scheme_upstreams_and_cookies_see(
    xfp: bytes | None, trusted: bool, scheme: bytes, proto: str
) -> None:
    req = request(xfp)
    assert forwarded_proto(req, trusted=trusted, scheme=scheme) == proto.encode()
    assert _proto(req, trusted, scheme) == proto

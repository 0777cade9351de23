"""The request headers' one-lookup classification against the rules it implements, header by header."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from idgate.edge.http import Request
from idgate.proxy.headers import is_reserved_bytes

HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
FORWARDED = {
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"x-forwarded-uri",
    b"x-forwarded-method",
}
CONTROLLED = FORWARDED | HOP | {b"content-length", b"host", b"cookie", b"expect", b"x-request-id"}
RECORDED = {
    b"accept": "accept",
    b"x-requested-with": "xrw",
    b"origin": "origin",
    b"authorization": "authorization",
}


def forwarded_by_the_rules(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """What reaches the upstream, said as the module docstrings say it, one rule per line."""
    out = []
    for name, value in headers:
        key = name.lower()
        if key in CONTROLLED - {b"host"}:
            continue  # hop-by-hop, framing, X-Forwarded-*, Cookie, Expect, X-Request-Id: the edge's own
        if is_reserved_bytes(key):
            continue  # identity headers, whatever their case or underscores
        if b"_" in key and key.replace(b"_", b"-") in CONTROLLED:
            continue  # an underscore twin of a header the edge controls
        out.append((name, value))
    return out


_NAMES = st.sampled_from(
    [b"Host", b"Cookie", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Upgrade", b"Keep-Alive",
     b"TE", b"Trailer", b"Proxy-Connection", b"X-Forwarded-For", b"x-forwarded-proto", b"X-Forwarded-Host",
     b"X-Forwarded-Uri", b"X-Forwarded-Method", b"Expect", b"X-Request-Id", b"X-Forwarded-User",
     b"x_forwarded_email", b"X-Forwarded-Groups", b"X-Auth-Request-User", b"x-auth-request-anything",
     b"X_Auth_Request_Email", b"X-Idgate-Deployment", b"x_idgate_x", b"X_Forwarded_For", b"Content_Length",
     b"Accept", b"X-Requested-With", b"Origin", b"Authorization", b"X-Real-IP", b"x_real_ip", b"User-Agent",
     b"Accept-Language", b"Sec-Fetch-Mode", b"X-Custom", b"x_custom_thing", b"X-Forwarded-Prefix",
     b"X-Forwarded-Access-Token", b"x-forwarded-preferred-username"]
)  # fmt: skip
_VALUES = st.sampled_from([b"1", b"a", b"keep-alive", b"chunked", b"text/html", b"12"])


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=20))
def test_what_is_forwarded_follows_the_rules_header_by_header(headers: list[tuple[bytes, bytes]]) -> None:
    req = Request(0.0)
    for name, value in headers:
        req.add_header(name, value)
    assert req.headers == forwarded_by_the_rules(headers)
    assert req.cookies == [v for n, v in headers if n.lower() == b"cookie"]
    assert req.hosts == sum(n.lower() == b"host" for n, _ in headers)
    assert req.lengths == sum(n.lower() == b"content-length" for n, _ in headers)
    for key, field in RECORDED.items():
        last = [v for n, v in headers if n.lower() == key]
        assert getattr(req, field) == (last[-1] if last else b"")
    xff = [v for n, v in headers if n.lower() == b"x-forwarded-for"]
    assert req.xff == b", ".join(xff)


def test_a_browsers_request_keeps_its_headers_in_order() -> None:
    req = Request(0.0)
    sent = [
        (b"Host", b"app.test"),
        (b"User-Agent", b"Mozilla/5.0"),
        (b"Accept", b"text/html"),
        (b"Cookie", b"a=1"),
        (b"Connection", b"keep-alive"),
        (b"X-Forwarded-Email", b"mallory@example.com"),
        (b"X_Auth_Request_User", b"mallory"),
        (b"Sec-Fetch-Mode", b"navigate"),
    ]
    for name, value in sent:
        req.add_header(name, value)
    assert req.headers == [sent[0], sent[1], sent[2], sent[7]]
    assert (req.host, req.accept, req.cookies, req.connection) == (
        b"app.test",
        b"text/html",
        [b"a=1"],
        b"keep-alive",
    )

"""The request headers' one-lookup classification against the rules it implements, header by header."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from idgate.edge.http import MEMO_NAMES, HeaderRules, Request
from idgate.proxy.headers import is_reserved

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
#: Every header the edge reads or controls itself.
READ = CONTROLLED | set(RECORDED) | {b"x-real-ip"}


def forwarded_by_the_rules(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """What reaches the upstream, said as the module docstrings say it, one rule per line."""
    out = []
    for name, value in headers:
        key = name.lower()
        if key in CONTROLLED - {b"host"}:
            continue  # hop-by-hop, framing, X-Forwarded-*, Cookie, Expect, X-Request-Id: the edge's own
        if is_reserved(name.decode()):
            continue  # identity headers (idgate's and other proxies'), whatever their case or underscores
        if b"_" in key and key.replace(b"_", b"-") in READ:
            continue  # an underscore twin of a header the edge reads or controls
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
     b"X-Forwarded-Access-Token", b"x-forwarded-preferred-username", b"Remote-User", b"X_Remote_Group",
     b"OIDC_CLAIM_email", b"oidc-claim-groups", b"X-WEBAUTH-USER", b"Impersonate-Group", b"X-User",
     b"X-Users", b"X_Requested_With", b"Accept_Language"]
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


def _kept(rules: HeaderRules, names: list[bytes]) -> list[bytes]:
    req = Request(0.0, rules)
    for name in names:
        req.add_header(name, b"v")
    return [n for n, _ in req.headers]


def test_identity_headers_add_to_and_take_from_the_defaults() -> None:
    names = [b"X-Portal-User", b"x_portal_team", b"X-Portal", b"X-Amzn-Oidc-Data", b"Remote-User", b"X-User"]
    assert _kept(HeaderRules.of(), names) == [b"X-Portal-User", b"x_portal_team", b"X-Portal"]
    rules = HeaderRules.of(strip=("X-Portal-User", "X-Portal-Team-*"), allow=("X-Amzn-Oidc-*", "X-User"))
    assert _kept(rules, names) == [b"x_portal_team", b"X-Portal", b"X-Amzn-Oidc-Data", b"X-User"]
    assert _kept(HeaderRules.of(strip=("X_Portal_*",)), names) == [b"X-Portal"]


def test_idgates_own_names_cannot_be_let_through_nor_the_edges_own_removed() -> None:
    rules = HeaderRules.of(strip=("Host", "Cookie"), allow=("X-Forwarded-User", "X-Auth-Request-*"))
    req = Request(0.0, rules)
    for name in (b"Host", b"Cookie", b"X-Forwarded-User", b"X-Auth-Request-Email"):
        req.add_header(name, b"v")
    assert (req.headers, req.cookies) == ([(b"Host", b"v")], [b"v"])


def test_endless_new_names_are_classified_without_growing_the_memo() -> None:
    rules = HeaderRules.of()
    before = len(rules.roles)
    names = [b"X-Junk-%d" % i for i in range(MEMO_NAMES + 500)] + [b"X-Remote-User-%d" % i for i in range(50)]
    kept = _kept(rules, names)
    assert kept == names[: MEMO_NAMES + 500]
    assert len(rules.roles) == before + MEMO_NAMES


def test_the_shared_table_names_exactly_the_headers_the_edge_reads_or_controls() -> None:
    """:data:`idgate.wire.EDGE_HEADERS` is what the config refuses in ``identity_headers.strip``; it must
    be the edge's own list, no more and no less."""
    from idgate.edge.http import _READERS, _ROLES
    from idgate.wire import EDGE_HEADERS, reads_itself

    assert EDGE_HEADERS == READ and set(_ROLES) == READ and set(_READERS) <= READ
    assert reads_itself("x-forwarded-host") and reads_itself("host") and not reads_itself("x-portal-user")

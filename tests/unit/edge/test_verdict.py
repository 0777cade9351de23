"""What a person or a client sees for each decision on each lane: the gate's decision and the verdict's
answer, without sockets (the bytes the edge would write, parsed back)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from tests.unit.edge.conftest import KEY, NOW, alice

from idgate.edge.gate import Gate, Verified
from idgate.edge.http import Request
from idgate.edge.verdict import FORWARD, Lane, verdict
from idgate.policy.decision import (
    ALLOW_AUTHENTICATED,
    ALLOW_PREFLIGHT,
    ALLOW_SKIP_AUTH,
    REFUSE_UNAUTHENTICATED,
    Decision,
    Reason,
)
from idgate.settings import ProxySettings

SETTINGS = ProxySettings(
    name="app",
    host="app.test",
    upstream="http://127.0.0.1:1",
    issuer_url="http://idp.test/dex",
    client_id="app",
    client_secret="s",
    encryption_key=KEY,
    email_domains=("example.com",),
    skip_auth_regex=("^/public",),
    api_routes=("^/api/",),
)
REFUSED = Decision(False, frozenset({Reason.EMAIL_DOMAIN_NOT_ALLOWED}))
SET_COOKIES = [
    (b"Set-Cookie", b"app_oauth2_proxy=new; Path=/"),
    (b"Set-Cookie", b"app_oauth2_proxy_0=; Max-Age=0"),
]
BROWSER = [(b"Accept", b"text/html,application/xhtml+xml")]
API = [(b"Accept", b"application/json")]
PROXY_LANES = [Lane.PROXY, Lane.BEARER]


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def parse(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [(k, v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Answer(status, headers, body)


def request(
    url: bytes = b"/graph?x=1", headers: list[tuple[bytes, bytes]] = BROWSER, method: bytes = b"GET"
) -> Request:
    req = Request(0.0)
    req.url = url
    req.method = method
    req.add_header(b"Host", b"app.test")
    req.add_header(b"X-Request-Id", b"rid-1")
    for name, value in headers:
        req.add_header(name, value)
    return req


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate(SETTINGS)


@pytest.fixture
def person(gate: Gate) -> Verified:
    return Verified(alice(), gate, NOW + 60)


def answer(
    lane: Lane,
    decision: Decision,
    req: Request,
    gate: Gate,
    verified: Verified | None = None,
    *,
    close: bool = False,
    set_cookies: list[tuple[bytes, bytes]] | None = None,
) -> Answer:
    status, data = verdict(lane, decision, req, gate, verified, close=close, set_cookies=set_cookies)
    found = parse(data)
    assert found.status == status  # the status logged is the status sent
    return found


# -- the proxy lane (browser, API client) and the bearer lane ------------------------------------------


@pytest.mark.parametrize("lane", PROXY_LANES)
@pytest.mark.parametrize("decision", [ALLOW_AUTHENTICATED, ALLOW_SKIP_AUTH, ALLOW_PREFLIGHT])
def test_allowed_on_a_proxy_lane_is_forwarded(
    lane: Lane, decision: Decision, gate: Gate, person: Verified
) -> None:
    assert verdict(lane, decision, request(), gate, person, close=False) == FORWARD
    assert verdict(lane, decision, request(), gate, None, close=False, set_cookies=SET_COOKIES) == FORWARD


def test_browser_without_session_is_sent_to_sign_in_with_the_page_to_come_back_to(gate: Gate) -> None:
    r = answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, request(b"/graph?x=1&y=/a b"), gate)
    assert r.status == 302
    assert r.header("Location") == ["/oauth/start?rd=%2Fgraph%3Fx%3D1%26y%3D%2Fa%20b"]
    assert r.body == b"" and r.header("Set-Cookie") == []


def test_login_redirect_carries_a_refreshed_or_cleared_cookie(gate: Gate) -> None:
    r = answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, request(), gate, set_cookies=SET_COOKIES)
    assert r.status == 302
    assert [k for k, _ in r.headers][:3] == ["Location", "Set-Cookie", "Set-Cookie"]
    assert r.header("Set-Cookie") == ["app_oauth2_proxy=new; Path=/", "app_oauth2_proxy_0=; Max-Age=0"]
    assert r.header("X-Idgate-Set-Cookie-0") == []


def test_a_target_that_is_not_a_path_comes_back_to_the_root(gate: Gate) -> None:
    r = answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, request(b"http://evil.test/x"), gate)
    assert r.header("Location") == ["/oauth/start?rd=%2F"]


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        (b"/graph", API),
        (b"/graph", [(b"X-Requested-With", b"XMLHttpRequest")]),
        (b"/api/v1/query", BROWSER),  # an api_routes path: never a login page
    ],
)
def test_api_client_without_session_gets_401_json(
    url: bytes, headers: list[tuple[bytes, bytes]], gate: Gate
) -> None:
    r = answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, request(url, headers), gate, set_cookies=SET_COOKIES)
    assert r.status == 401
    assert r.header("Content-Type") == ["application/json"]
    assert json.loads(r.body) == {"error": "unauthorized", "request_id": "rid-1"}
    assert r.header("Location") == [] and r.header("WWW-Authenticate") == []
    assert len(r.header("Set-Cookie")) == 2


@pytest.mark.parametrize("headers", [BROWSER, API])
def test_refused_bearer_token_gets_401_invalid_token_never_a_redirect(
    headers: list[tuple[bytes, bytes]], gate: Gate
) -> None:
    decision = Decision(False, frozenset({Reason.UNAUTHENTICATED, Reason.BEARER_INVALID}))
    r = answer(Lane.BEARER, decision, request(headers=headers), gate)
    assert r.status == 401
    assert r.header("WWW-Authenticate") == ['Bearer error="invalid_token"']
    assert json.loads(r.body) == {"error": "invalid_token"}
    assert r.header("Location") == []


@pytest.mark.parametrize("lane", PROXY_LANES)
def test_refused_gets_the_403_page_naming_the_reasons(lane: Lane, gate: Gate, person: Verified) -> None:
    r = answer(lane, REFUSED, request(b"/graph?x=1"), gate, person, set_cookies=SET_COOKIES)
    assert r.status == 403
    assert r.header("Content-Type") == ["text/html; charset=utf-8"]
    assert b"your email domain is not allowed" in r.body
    assert b"<code>email_domain_not_allowed</code>" in r.body
    assert b"Request id <code>rid-1</code>" in r.body
    assert b'href="/oauth/sign_out?rd=/graph%3Fx%3D1"' in r.body  # sign in as someone else, back here
    assert r.header("Set-Cookie") == []  # a 403 page carries no cookie


def test_403_page_names_every_reason_of_a_route_rule(gate: Gate, person: Verified) -> None:
    decision = Decision(False, frozenset({"route[0]:not_in_allowed_groups", Reason.EMAIL_NOT_VERIFIED}))
    r = answer(Lane.PROXY, decision, request(), gate, person)
    assert b"<code>route[0]:not_in_allowed_groups</code>" in r.body
    assert b"for this address (route[0])" in r.body
    assert b"<code>email_not_verified</code>" in r.body


def test_head_gets_the_same_status_and_headers_without_a_body(gate: Gate, person: Verified) -> None:
    r = answer(Lane.PROXY, REFUSED, request(method=b"HEAD"), gate, person)
    assert r.status == 403 and r.body == b"" and int(r.header("Content-Length")[0]) > 0
    r = answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, request(headers=API, method=b"HEAD"), gate)
    assert r.status == 401 and r.body == b""


def test_close_and_http_10_keep_alive_are_said(gate: Gate) -> None:
    assert answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, request(), gate, close=True).header("Connection") == [
        "close"
    ]
    req = request()
    req.version = "1.0"
    assert answer(Lane.PROXY, REFUSE_UNAUTHENTICATED, req, gate).header("Connection") == ["keep-alive"]


# -- /oauth/auth ---------------------------------------------------------------------------------------


def test_auth_allowed_is_202_with_the_identity(gate: Gate, person: Verified) -> None:
    r = answer(Lane.AUTH, ALLOW_AUTHENTICATED, request(b"/oauth/auth"), gate, person)
    assert r.status == 202 and r.body == b""
    assert r.header("X-Auth-Request-User") == ["alice-sub"]
    assert r.header("X-Auth-Request-Email") == ["alice@example.com"]
    assert r.header("X-Auth-Request-Groups") == ["org,org:team"]
    assert r.header("X-Auth-Request-Preferred-Username") == ["alice"]
    assert r.header("Set-Cookie") == []


def test_auth_skipped_path_is_202_without_identity(gate: Gate, person: Verified) -> None:
    r = answer(Lane.AUTH, ALLOW_SKIP_AUTH, request(b"/oauth/auth"), gate, person)
    assert r.status == 202
    assert not [k for k, _ in r.headers if k.startswith("X-Auth-Request")]


@pytest.mark.parametrize(
    ("decision", "status", "body"),
    [(REFUSE_UNAUTHENTICATED, 401, b"Unauthorized"), (REFUSED, 403, b"Forbidden")],
)
def test_auth_refusals_are_plain_401_and_403(
    decision: Decision, status: int, body: bytes, gate: Gate
) -> None:
    r = answer(Lane.AUTH, decision, request(b"/oauth/auth", BROWSER), gate)
    assert (r.status, r.body) == (status, body)
    assert r.header("Location") == [] and r.header("WWW-Authenticate") == []


def test_auth_allowed_without_a_session_is_403(gate: Gate) -> None:
    """A CORS preflight the policy lets through: /oauth/auth has no identity to answer 202 with."""
    r = answer(Lane.AUTH, ALLOW_PREFLIGHT, request(b"/oauth/auth"), gate)
    assert (r.status, r.body) == (403, b"Forbidden")
    r = answer(Lane.AUTH, ALLOW_PREFLIGHT, request(b"/oauth/auth"), gate, set_cookies=SET_COOKIES)
    assert r.status == 403


@pytest.mark.parametrize(
    ("decision", "status"),
    [(ALLOW_AUTHENTICATED, 202), (ALLOW_SKIP_AUTH, 202), (REFUSE_UNAUTHENTICATED, 401), (REFUSED, 403)],
)
def test_auth_answers_carry_cookies_and_their_copies_for_nginx(
    decision: Decision, status: int, gate: Gate, person: Verified
) -> None:
    r = answer(Lane.AUTH, decision, request(b"/oauth/auth"), gate, person, set_cookies=SET_COOKIES)
    assert r.status == status
    assert r.header("Set-Cookie") == ["app_oauth2_proxy=new; Path=/", "app_oauth2_proxy_0=; Max-Age=0"]
    assert r.header("X-Idgate-Set-Cookie-0") == ["app_oauth2_proxy=new; Path=/"]
    assert r.header("X-Idgate-Set-Cookie-1") == ["app_oauth2_proxy_0=; Max-Age=0"]
    assert bool(r.header("X-Auth-Request-Email")) is (decision is ALLOW_AUTHENTICATED)


# -- the gate's decisions per lane ---------------------------------------------------------------------


def test_bearer_lane_marks_the_decision(gate: Gate, person: Verified) -> None:
    req = request()
    assert gate.decide(req, person, True).reasons == {Reason.AUTHENTICATED, Reason.BEARER}
    refused = gate.decide(req, None, True)
    assert refused.reasons == {Reason.UNAUTHENTICATED, Reason.BEARER_INVALID}
    assert refused.unauthenticated
    assert gate.decide(request(b"/public/x"), None, True) == ALLOW_SKIP_AUTH  # open paths stay open
    assert gate.decide(req, person) == ALLOW_AUTHENTICATED


def websocket(origin: bytes | None) -> Request:
    headers = [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"), *BROWSER]
    if origin is not None:
        headers.append((b"Origin", origin))
    return request(b"/ws", headers)


@pytest.mark.parametrize("origin", [b"http://app.test", None])
def test_websocket_from_the_deployments_page_or_no_browser_is_forwarded(
    origin: bytes | None, gate: Gate, person: Verified
) -> None:
    req = websocket(origin)
    decision = gate.decide(req, person)
    assert decision == ALLOW_AUTHENTICATED
    assert verdict(Lane.PROXY, decision, req, gate, person, close=False) == FORWARD


def test_websocket_from_another_sites_page_gets_the_403_page(gate: Gate, person: Verified) -> None:
    req = websocket(b"https://evil.test")
    decision = gate.decide(req, person)
    assert decision.reasons == {Reason.WEBSOCKET_ORIGIN_NOT_ALLOWED}
    r = answer(Lane.PROXY, decision, req, gate, person)
    assert r.status == 403
    assert b"the page that opened this connection is on another site" in r.body
    assert b"<code>websocket_origin_not_allowed</code>" in r.body


def test_websocket_without_session_is_sent_to_sign_in(gate: Gate) -> None:
    req = websocket(b"https://evil.test")
    decision = gate.decide(req, None)
    assert decision == REFUSE_UNAUTHENTICATED
    assert answer(Lane.PROXY, decision, req, gate).status == 302


def test_auth_query_constraints_narrow_an_allowed_session(gate: Gate, person: Verified) -> None:
    req = request(b"/oauth/auth?allowed_groups=admins&allowed_emails=alice@example.com")
    decision = gate.decide_auth(req, person, trusted=False)
    assert decision == Decision(False, frozenset({Reason.GROUP_NOT_ALLOWED}))
    assert answer(Lane.AUTH, decision, req, gate, person).status == 403
    assert gate.decide_auth(request(b"/oauth/auth?allowed_groups=org"), person, trusted=False).allowed
    assert gate.decide_auth(req, None, trusted=False) == REFUSE_UNAUTHENTICATED

"""The token endpoint answered by the edge itself (``provider/token_lane.py``) against the real product.

A small form ``POST {issuer}/token`` takes the edge's lane; anything else (a body over 16 KiB, another
content type) still goes to the provider's web app. Both must answer alike -- the same status, error code
and headers -- and the lane must keep what the web app guaranteed: ``no-store``, ``invalid_client`` with a
``Basic`` challenge, duplicated parameters refused, a slow body cut off.
"""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest
from tests.e2e.harness import Running
from tests.security.rawhttp import exchange, header, status

pytestmark = pytest.mark.e2e

CLIENT, SECRET = "kubermatic", "Xk4pQ9sLmT2vW8zR1yB6nC3dF7gH5jK0"  # kkp-values.md §6
FORM = "application/x-www-form-urlencoded"
LANE_LIMIT = 16 * 1024


def basic(client: str = CLIENT, secret: str = SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client}:{secret}".encode()).decode()


def post(
    idgate: Running, body: bytes, *, auth: str | None = None, ctype: str = FORM, extra: str = ""
) -> bytes:
    head = (
        f"POST /dex/token HTTP/1.1\r\nHost: kkp.localhost:{idgate.port}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}"
    )
    if auth:
        head += f"Authorization: {auth}\r\n"
    return exchange(idgate.port, head.encode() + b"\r\n" + body)


def padded(body: bytes) -> bytes:
    """The same form, over the lane's limit (unknown parameters are ignored): the web app answers it."""
    pad = b"&" + b"&".join(b"pad%d=%s" % (i, b"x" * 4000) for i in range(5))
    assert len(body + pad) > LANE_LIMIT
    return body + pad


def answer(response: bytes) -> tuple[int, str, str | None, str | None, str | None]:
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    return (
        status(response),
        body.get("error", ""),
        header(response, "Cache-Control"),
        header(response, "Pragma"),
        header(response, "WWW-Authenticate"),
    )


CASES = {
    "wrong secret": (
        b"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fkkp.example.com",
        basic(secret="nope"),
    ),
    "unknown client": (b"grant_type=authorization_code&code=x", basic(client="ghost")),
    "no credentials": (b"grant_type=authorization_code&code=x", None),
    "unknown code": (
        b"grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fkkp.example.com",
        basic(),
    ),
    "repeated parameter": (b"grant_type=authorization_code&grant_type=refresh_token&code=x", basic()),
    "unsupported grant": (b"grant_type=urn%3Aexample%3Anothing", basic()),
    "unknown refresh token": (b"grant_type=refresh_token&refresh_token=fam.secret", basic()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_lane_answers_as_the_web_app_does(idgate: Running, case: str) -> None:
    body, auth = CASES[case]
    lane, webapp = post(idgate, body, auth=auth), post(idgate, padded(body), auth=auth)
    assert answer(lane) == answer(webapp), (lane, webapp)
    code, error, cache, pragma, _challenge = answer(lane)
    assert code in (400, 401) and error and cache == "no-store" and pragma == "no-cache"
    assert header(lane, "Content-Type").startswith("application/json")
    assert header(lane, "X-Request-Id")


def test_invalid_client_is_401_with_a_basic_challenge(idgate: Running) -> None:
    for auth in (basic(secret="nope"), basic(client="ghost")):
        got = answer(post(idgate, b"grant_type=authorization_code&code=x", auth=auth))
        assert got[:2] == (401, "invalid_client") and got[4] is not None and got[4].startswith("Basic")


def test_another_content_type_is_not_read_as_a_form(idgate: Running) -> None:
    """JSON is not a token request (RFC 6749 §3.2): the web app's answer, not the lane's guess."""
    got = post(idgate, b'{"grant_type": "authorization_code"}', auth=basic(), ctype="application/json")
    assert status(got) == 400 and answer(got)[1] == "invalid_request"


def test_a_client_that_expects_100_continue_gets_it(idgate: Running) -> None:
    with socket.create_connection(("127.0.0.1", idgate.port), timeout=5) as s:
        body = b"grant_type=authorization_code&code=x"
        s.sendall(
            f"POST /dex/token HTTP/1.1\r\nHost: kkp.localhost:{idgate.port}\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n"
            f"Authorization: {basic()}\r\n\r\n".encode()
        )
        assert s.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(body)
        got = b""
        while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
            got += s.recv(4096)
        assert status(got) == 400 and answer(got)[1] == "invalid_grant"


def test_a_body_that_never_arrives_is_cut_off(idgate: Running) -> None:
    """The head promises 64 bytes and sends 10: 408 after the header timeout, others served meanwhile."""
    slow = socket.create_connection(("127.0.0.1", idgate.port))
    try:
        slow.sendall(
            f"POST /dex/token HTTP/1.1\r\nHost: kkp.localhost:{idgate.port}\r\nContent-Type: {FORM}\r\n"
            "Content-Length: 64\r\n\r\ngrant_type".encode()
        )
        started = time.monotonic()
        other = post(idgate, b"grant_type=authorization_code&code=x", auth=basic())
        assert status(other) == 400 and time.monotonic() - started < 2
        slow.settimeout(30)
        got = b""
        while chunk := slow.recv(4096):
            got += chunk
        assert status(got) == 408 and time.monotonic() - started < 30
    finally:
        slow.close()

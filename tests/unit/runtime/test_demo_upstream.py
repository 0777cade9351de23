"""The embedded demo's protected app (``idgate.runtime.demo_upstream``): the first page after the demo's
login, in the one design, with the identity headers and the assertion decoded (and said to be unverified).
Its look in a real browser (320 px, dark mode) is ``tests/e2e/test_demo.py``'s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from idgate.proxy.assertion import AssertionSigner
from idgate.runtime.demo_upstream import decode_for_display, upstream_app
from idgate.sessions.base import Session
from idgate.web import CSS
from idgate.web.page_headers import PAGE_HEADERS

NOW = 1_765_000_000.0
SESSION = Session(
    user="CiQwMDAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMGEwZDESBWxvY2Fs",
    email="admin@example.com",
    email_verified=True,
    created_at=NOW,
    expires_at=NOW + 3600,
    preferred_username="admin",
    groups=("admins", "ops"),
)
SIGNER = AssertionSigner([b"k" * 32], issuer="http://demo.localhost:4180", audience="http://127.0.0.1:9")
TOKEN = SIGNER.sign(SESSION, NOW)


class _Pairs(HTMLParser):
    """The ``<dl>`` lists of a page by id: name -> value text."""

    def __init__(self) -> None:
        super().__init__()
        self.lists: dict[str, dict[str, str]] = {}
        self._list = ""
        self._tag = ""
        self._name = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "dl":
            self._list = dict(attrs).get("id") or ""
            self.lists[self._list] = {}
        elif tag in ("dt", "dd"):
            self._tag = tag
            if tag == "dt":
                self._name = ""
            else:
                self.lists[self._list][self._name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dt", "dd"):
            self._tag = ""

    def handle_data(self, data: str) -> None:
        if self._tag == "dt":
            self._name += data
        elif self._tag == "dd":
            self.lists[self._list][self._name] += data


def pairs(body: str) -> dict[str, dict[str, str]]:
    parser = _Pairs()
    parser.feed(body)
    return {k: {n.strip(): " ".join(v.split()) for n, v in d.items()} for k, d in parser.lists.items()}


@pytest.fixture
async def client() -> AsyncIterator[Any]:
    async with TestClient(TestServer(upstream_app())) as c:
        yield c


async def test_the_page_shows_the_identity_headers_and_the_assertion_decoded(client: Any) -> None:
    headers = {
        "X-Forwarded-User": SESSION.user,
        "X-Forwarded-Email": "admin@example.com",
        "X-Forwarded-Groups": "admins,ops",
        "X-Idgate-Assertion": TOKEN,
    }
    resp = await client.get("/hello?x=1", headers=headers)
    assert resp.status == 200 and resp.content_type == "text/html"
    body = await resp.text()
    assert f"<style>{CSS}</style>" in body and '<main class="theme-panel wide">' in body  # the one design
    assert "<script" not in body
    for name, value in PAGE_HEADERS.items():
        assert resp.headers[name] == value
    found = pairs(body)
    assert found["identity"] == {
        "X-Forwarded-User": SESSION.user,
        "X-Forwarded-Email": "admin@example.com",
        "X-Forwarded-Groups": "admins,ops",
        "X-Forwarded-Preferred-Username": "(not sent)",
    }
    assert found["assertion-header"]["alg"] == "ES256" and found["assertion-header"]["typ"] == "JWT"
    claims = found["assertion-claims"]
    assert claims["email"] == "admin@example.com" and claims["groups"] == "admins, ops"
    assert claims["aud"] == "http://127.0.0.1:9" and claims["sub"] == SESSION.user
    assert claims["exp"] == f"{int(NOW) + 60} (expires 2025-12-06 05:47:40 UTC)"
    words = " ".join(body.split())
    assert "decoded <strong>without checking its signature</strong>, for display only" in words
    assert 'href="/oauth/jwks.json"' in body
    assert "<code>GET /hello?x=1</code>" in body


async def test_without_an_assertion_the_page_says_why(client: Any) -> None:
    body = await (await client.get("/", headers={"X-Forwarded-Email": "a@b.c"})).text()
    assert "Not sent: this deployment has <code>pass_idgate_assertion: false</code>." in body
    assert "assertion-claims" not in body


async def test_what_arrived_is_escaped(client: Any) -> None:
    forged = "eyJhbGciOiI8Yj4ifQ.eyJlbWFpbCI6IjxzY3JpcHQ-In0.x"  # {"alg":"<b>"}.{"email":"<script>"}
    body = await (
        await client.get("/<i>", headers={"X-Forwarded-Email": "<u>x", "X-Idgate-Assertion": forged})
    ).text()
    assert "<b>" not in body and "<script" not in body and "<u>" not in body and "<i>" not in body
    assert pairs(body)["assertion-claims"] == {"email": "<script>"}


async def test_json_is_still_the_request_as_it_arrived(client: Any) -> None:
    resp = await client.get("/p?q=1", headers={"Accept": "application/json", "X-Forwarded-Email": "a@b.c"})
    doc = await resp.json()
    assert doc["path"] == "/p?q=1" and doc["headers"]["X-Forwarded-Email"] == "a@b.c"


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("abc", "it has 1 parts where a JWT has 3"),
        ("a.b", "it has 2 parts where a JWT has 3"),
        ("!!!.e30.x", "its header or claims are not base64url-encoded JSON objects"),
        ("WzFd.e30.x", "its header or claims are not base64url-encoded JSON objects"),  # [1]: not an object
    ],
)
def test_what_is_not_a_jwt_is_said_so(token: str, problem: str) -> None:
    assert decode_for_display(token).problem == problem


def test_times_carry_their_date() -> None:
    decoded = decode_for_display(TOKEN)
    assert ("iat", str(int(NOW)), "issued 2025-12-06 05:46:40 UTC") in decoded.claims

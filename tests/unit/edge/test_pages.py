"""The edge's own pages: every status in the one design, escaped, with a way forward and the request id."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.unit.edge.conftest import Client, Env, alice, seal

from idgate.edge.pages import _TEXTS, SIGN_OUT, page
from idgate.web import CSS

BROWSER = "Accept: text/html\r\n"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self.links[data] = self._href
            self._href = None


def links(body: bytes) -> dict[str, str]:
    parser = _Links()
    parser.feed(body.decode())
    return parser.links


@pytest.mark.parametrize("status", [*sorted(_TEXTS), 500])
def test_every_status_renders_in_the_one_design_with_the_request_id(status: int) -> None:
    body = page(status, request_id="rid-1").decode()
    assert (
        body.startswith("<!doctype html>") and '<html lang="en">' in body and f"<style>{CSS}</style>" in body
    )
    assert f'<p class="eyebrow">Error {status}</p>' in body and body.count("<h1>") == 1
    assert f"<title>{status} " in body
    assert '<footer class="foot">Request id <code>rid-1</code></footer>' in body
    assert "<script" not in body


def test_without_a_request_id_the_footer_is_empty() -> None:
    assert b'<footer class="foot"></footer>' in page(404)


def test_everything_from_the_request_is_escaped() -> None:
    body = page(
        403,
        detail="<b>d</b>",
        request_id='"><x',
        reasons="<r>:email_not_allowed",
        rd='/a"<b>',
        who="<i>@evil.test",
    ).decode()
    assert "<b>" not in body and "<x" not in body and "<r>" not in body and '/a"' not in body
    assert "<i>" not in body and "<strong>&lt;i&gt;@evil.test</strong>" in body
    assert "&lt;b&gt;d&lt;/b&gt;" in body and "<code>&quot;&gt;&lt;x</code>" in body
    assert "for this address (&lt;r&gt;)" in body
    assert 'href="/oauth/sign_out?rd=/a%22%3Cb%3E"' in body


class _Text(HTMLParser):
    """The text of a page, paragraph by paragraph, and the text of its small print apart."""

    def __init__(self) -> None:
        super().__init__()
        self.paragraphs: list[str] = []
        self.small: list[str] = []
        self._into: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "p":
            small = "small" in (dict(attrs).get("class") or "").split()
            self._into = self.small if small else self.paragraphs
            self._into.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into[-1] += data


def text_of(body: bytes) -> _Text:
    parser = _Text()
    parser.feed(body.decode())
    return parser


def test_403_says_who_is_signed_in_and_why_in_a_sentence_with_the_code_apart() -> None:
    body = page(403, reasons="email_domain_not_allowed", who="bob@evil.test", rd="/dash")
    text = text_of(body)
    assert (
        "You are signed in as bob@evil.test, but this service does not let you in: "
        "your email domain is not allowed." in text.paragraphs
    )
    assert not any("email_domain_not_allowed" in p for p in text.paragraphs)  # not run into the sentence
    assert text.small == ["Reason: email_domain_not_allowed"]


def test_403_names_each_reason_and_offers_another_account_and_to_sign_out() -> None:
    body = page(403, reasons="github_org_not_allowed,admin:email_not_allowed", rd="/graph?g0.expr=up&x=1")
    text = body.decode()
    assert "<li>you are not a member of the required GitHub organisation</li>" in text
    assert (
        "<li>your email address is not on the list of allowed addresses for this address (admin)</li>" in text
    )
    assert text_of(body).small == ["Reasons: github_org_not_allowed, admin:email_not_allowed"]
    found = links(body)
    out = urlsplit(found["Sign in as someone else"])
    assert out.path == SIGN_OUT == "/oauth/sign_out"
    assert parse_qs(out.query) == {"rd": ["/graph?g0.expr=up&x=1"]}
    assert found["Sign out"] == SIGN_OUT
    assert "Home" not in found  # home would refuse the same person for the same reason


@pytest.mark.parametrize(
    ("reasons", "rd", "home"),
    [
        ("admin:email_not_allowed", "/admin/users", True),  # a rule for some paths: home may let them in
        ("admin:email_not_allowed", "/", False),  # ... unless home is what was refused
        ("admin:email_not_allowed", None, False),
        ("email_domain_not_allowed", "/admin/users", False),  # refused everywhere
        ("admin:email_not_allowed,email_not_verified", "/admin", False),
    ],
)
def test_403_offers_home_only_when_home_may_let_the_person_in(
    reasons: str, rd: str | None, home: bool
) -> None:
    assert ("Home" in links(page(403, reasons=reasons, rd=rd))) is home


def test_403_without_a_validated_address_signs_out_to_the_start() -> None:
    assert links(page(403, reasons="email_not_verified"))["Sign in as someone else"] == SIGN_OUT


def test_403_without_a_session_says_no_name() -> None:
    text = text_of(page(403, reasons="websocket_origin_not_allowed"))
    assert (
        "You are signed in, but this service does not let you in: "
        "the page that opened this connection is on another site." in text.paragraphs
    )


def test_404_offers_nothing_but_a_clear_text() -> None:
    body = page(404, request_id="r")
    assert links(body) == {} and b"There is no service at this address." in body


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_offer_to_try_again(status: int) -> None:
    assert links(page(status, request_id="r")) == {"Try again": ""}


@pytest.mark.parametrize("status", [400, 405, 408, 413, 414, 431])
def test_client_errors_have_no_links(status: int) -> None:
    assert links(page(status)) == {}


async def test_a_refused_person_is_offered_to_sign_out_back_to_this_address(env: Env, client: Client) -> None:
    r = await client.get(
        "/dash?a=1&b=%2F",
        headers=BROWSER + f"Cookie: app_oauth2_proxy={seal(alice(email='b@evil.test'))}\r\n",
    )
    assert r.status == 403
    rd = parse_qs(urlsplit(links(r.body)["Sign in as someone else"]).query)["rd"]
    assert rd == ["/dash?a=1&b=%2F"]
    assert any(p.startswith("You are signed in as b@evil.test, but") for p in text_of(r.body).paragraphs)
    assert r.header("X-Request-Id") and r.header("X-Request-Id").encode() in r.body  # type: ignore[union-attr]


async def test_an_address_the_validator_refuses_is_not_offered_back(env: Env, client: Client) -> None:
    r = await client.get(
        "//evil.test/x", headers=BROWSER + f"Cookie: app_oauth2_proxy={seal(alice(email='b@evil.test'))}\r\n"
    )
    assert r.status == 403
    assert links(r.body)["Sign in as someone else"] == SIGN_OUT
    assert not re.search(rb"evil\.test/x", r.body)

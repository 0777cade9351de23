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
        403, detail="<b>d</b>", request_id='"><x', reasons="<r>:email_not_allowed", rd='/a"<b>'
    ).decode()
    assert "<b>" not in body and "<x" not in body and "<r>" not in body and '/a"' not in body
    assert "&lt;b&gt;d&lt;/b&gt;" in body and "<code>&quot;&gt;&lt;x</code>" in body
    assert "for this address (&lt;r&gt;)" in body
    assert 'href="/oauth/sign_out?rd=/a%22%3Cb%3E"' in body


def test_403_names_each_reason_and_offers_another_account_and_home() -> None:
    body = page(403, reasons="github_org_not_allowed,admin:email_not_allowed", rd="/graph?g0.expr=up&x=1")
    text = body.decode()
    assert (
        "you are not a member of the required GitHub organisation <code>github_org_not_allowed</code>" in text
    )
    assert "not on the list of allowed addresses for this address (admin)" in text
    found = links(body)
    out = urlsplit(found["Sign in as someone else"])
    assert out.path == SIGN_OUT == "/oauth/sign_out"
    assert parse_qs(out.query) == {"rd": ["/graph?g0.expr=up&x=1"]}
    assert found["Home"] == "/"


def test_403_without_a_validated_address_signs_out_to_the_start() -> None:
    assert links(page(403, reasons="email_not_verified"))["Sign in as someone else"] == SIGN_OUT


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
    assert r.header("X-Request-Id") and r.header("X-Request-Id").encode() in r.body  # type: ignore[union-attr]


async def test_an_address_the_validator_refuses_is_not_offered_back(env: Env, client: Client) -> None:
    r = await client.get(
        "//evil.test/x", headers=BROWSER + f"Cookie: app_oauth2_proxy={seal(alice(email='b@evil.test'))}\r\n"
    )
    assert r.status == 403
    assert links(r.body)["Sign in as someone else"] == SIGN_OUT
    assert not re.search(rb"evil\.test/x", r.body)

"""The embedded demo's protected app in a real browser (Debian's Chromium through Playwright, as in
``test_browser.py``): the first page a person sees after ``make run``'s login fits a 320 px phone in dark
and light mode, breaks header names only after a hyphen, and shows the ``X-Idgate-Assertion`` decoded.
Sync Playwright runs its own event loop, so these tests live apart from ``test_demo.py``'s async ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import stop_idgate
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, check_accessible, playwright_api, shot
from tests.e2e.test_demo import serve_demo

pytestmark = pytest.mark.e2e

#: The text of an element line by line, as Chromium laid it out: a new line where a character's box
#: starts below the previous character's (boxes of one line overlap, whatever their font size).
LINES = """(el) => {
    const lines = [];
    let bottom = null, line = "";
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (let i = 0; i < node.length; i++) {
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const box = range.getClientRects()[0];
            if (!box) continue;
            if (bottom !== null && box.top >= bottom - 1) { lines.push(line); line = ""; }
            bottom = box.bottom;
            line += node.data[i];
        }
    }
    lines.push(line);
    return lines.map((l) => l.trim());
}"""

#: The name/value pairs of a ``<dl id=...>``.
PAIRS = """(dl) => Object.fromEntries([...dl.querySelectorAll("dt")].map(
    (dt) => [dt.textContent.trim(), dt.nextElementSibling.textContent.trim().replace(/\\s+/g, " ")]))"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _signed_in(chromium: Any, running: Any, width: int, scheme: str, path: str = "/hello?x=1") -> Any:
    context = chromium.new_context(viewport={"width": width, "height": 640}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    target = running.url("demo", path)
    page.goto(target)
    page.fill("input[name=login]", "admin@example.com")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(target)
    return page


DEMO_PASSWORD = "correct horse battery"
BACKGROUND = {"light": "rgb(242, 244, 247)", "dark": "rgb(13, 17, 23)"}  # --bg of idgate/web/style.css


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_demo_app_fits_320_px_and_shows_the_assertion_decoded(
    chromium: Any, tmp_path: Path, scheme: str
) -> None:
    running = serve_demo(tmp_path, "narrow", {"IDGATE_ADMIN_PASSWORD": DEMO_PASSWORD})
    try:
        page = _signed_in(chromium, running, 320, scheme)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 320
        check_accessible(page)
        shot(page, f"demo-320-{scheme}")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUND[scheme]
        assert page.locator("h1").inner_text() == "You are signed in"
        identity = page.locator("#identity").evaluate(PAIRS)
        assert identity["X-Forwarded-Email"] == "admin@example.com"
        assert identity["X-Forwarded-Preferred-Username"] == "admin"
        header = page.locator("#assertion-header").evaluate(PAIRS)
        assert header["alg"] == "ES256" and header["typ"] == "JWT"
        claims = page.locator("#assertion-claims").evaluate(PAIRS)
        assert claims["email"] == "admin@example.com" and claims["iss"] == running.url("demo", "")
        assert claims["preferred_username"] == "admin" and "(expires 20" in claims["exp"]
        assert page.get_by_text("without checking its signature").is_visible()
        for name in page.locator("dl dt code").all():  # names break only after a hyphen, never mid-word
            lines = name.evaluate(LINES)
            assert all(line.endswith("-") for line in lines[:-1]), lines
    finally:
        assert stop_idgate(running) == 0, running.output()


def test_header_names_wrap_after_a_hyphen_when_they_must(chromium: Any, tmp_path: Path) -> None:
    """Narrower than any phone, a long header name has to wrap: it does so after a hyphen."""
    running = serve_demo(tmp_path, "narrower", {"IDGATE_ADMIN_PASSWORD": DEMO_PASSWORD})
    try:
        page = _signed_in(chromium, running, 240, "light")
        lines = page.locator("#identity dt code", has_text="Preferred").evaluate(LINES)
        assert len(lines) > 1 and all(line.endswith("-") for line in lines[:-1]), lines
    finally:
        assert stop_idgate(running) == 0, running.output()


#: A request id a tracing proxy in front might send (a safe token, so the edge keeps it): long enough to
#: start in the middle of a footer line at 320 px and reach past its end.
TRACE_ID = "a1b2c3d4e5f6-a1b2c3d4e5f6-abc"


def test_error_pages_keep_the_request_id_whole_at_320_px(chromium: Any, tmp_path: Path) -> None:
    running = serve_demo(tmp_path, "rid", {"IDGATE_ADMIN_PASSWORD": DEMO_PASSWORD})
    try:
        context = chromium.new_context(
            viewport={"width": 320, "height": 640}, extra_http_headers={"X-Request-Id": TRACE_ID}
        )
        page = context.new_page()
        for url, codes in [
            (f"http://localhost:{running.port}/dex/auth?client_id=nobody&response_type=code", 2),  # provider
            (f"http://nowhere.localhost:{running.port}/", 1),  # the edge's 404
        ]:
            page.goto(url)
            found = page.locator("footer code")
            assert found.count() == codes, page.content()  # an error's code, the request id
            assert found.last.inner_text() == TRACE_ID
            for code in found.all():  # each moves to the next line whole rather than break
                assert len(code.evaluate(LINES)) == 1, (url, code.evaluate(LINES))
            assert page.evaluate("document.scrollingElement.scrollWidth") <= 320
        context.close()
    finally:
        assert stop_idgate(running) == 0, running.output()

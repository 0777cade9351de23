"""``idgate serve`` with no config: the embedded demo a newcomer runs with ``make run``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import free_port, start_idgate, stop_idgate

pytestmark = pytest.mark.e2e

PASSWORD_LINE = re.compile(r"log in as admin@example\.com with password (\S+)")


def serve_demo(tmp_path: Path, name: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    port = free_port()
    args = ["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")]
    return start_idgate(args, port, tmp_path / f"{name}.log", env)


async def test_demo_login_shows_identity_at_the_demo_upstream(tmp_path: Path) -> None:
    running = serve_demo(tmp_path, "first", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        match = PASSWORD_LINE.search(running.output())
        assert match, running.output()
        password = match.group(1)
        async with Browser() as b:
            hops = await b.get(running.url("demo", "/hello?x=1"))
            assert hops[-1].status == 200 and "/dex/" in hops[-1].url
            hops = await b.submit(hops[-1], {"login": "admin@example.com", "password": password})
            page = hops[-1]
        assert page.status == 200, [(h.url, h.status) for h in hops]
        assert page.url == running.url("demo", "/hello?x=1")
        assert "X-Forwarded-Email" in page.body and "admin@example.com" in page.body
        # its storage was created, by a child process: SQLAlchemy and Alembic never entered this one
        loaded = Path(f"/proc/{running.process.pid}/maps").read_text()
        assert "Creating the storage schema" in running.output()
        assert "/sqlalchemy/" not in loaded and "/greenlet/" not in loaded
    finally:
        assert stop_idgate(running) == 0, running.output()

    # the generated password is printed once only; its hash is what stays on disk
    stored = (tmp_path / "data" / "admin-password.bcrypt").read_bytes()
    assert stored.startswith(b"$2") and password.encode() not in stored
    again = serve_demo(tmp_path, "second", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        assert PASSWORD_LINE.search(again.output()) is None
    finally:
        assert stop_idgate(again) == 0, again.output()


async def test_make_run_says_what_to_open_and_on_a_second_start_how_to_reset_the_password(
    tmp_path: Path,
) -> None:
    first = serve_demo(tmp_path, "first", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        said = first.output()
        assert f"idgate demo: open {first.url('demo', '/')}\n" in said
        assert PASSWORD_LINE.search(said) and "Forgot it?" not in said
    finally:
        assert stop_idgate(first) == 0, first.output()
    second = serve_demo(tmp_path, "second", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        said = second.output()
        assert f"idgate demo: open {second.url('demo', '/')}\n" in said
        assert "log in as admin@example.com with the password printed on the first start" in said
        assert "Forgot it? Stop idgate (Ctrl-C) and start it with a password you choose:" in said
        assert "IDGATE_ADMIN_PASSWORD='a new password' make run" in said
        assert f"or delete {tmp_path / 'data' / 'admin-password.bcrypt'} and start again" in said
        assert PASSWORD_LINE.search(said) is None
    finally:
        assert stop_idgate(second) == 0, second.output()
    # what the hint says works: a password from the environment replaces the forgotten one
    third = serve_demo(tmp_path, "third", {"IDGATE_ADMIN_PASSWORD": "a new password"})
    try:
        assert "with the password in $IDGATE_ADMIN_PASSWORD" in third.output()
        async with Browser() as b:
            hops = await b.get(third.url("demo", "/"))
            hops = await b.submit(hops[-1], {"login": "admin@example.com", "password": "a new password"})
        assert hops[-1].status == 200 and hops[-1].url == third.url("demo", "/")
    finally:
        assert stop_idgate(third) == 0, third.output()


# -- the demo app in a real browser ---------------------------------------------------------------

#: The text of an element line by line, as Chromium laid it out (a new line where a character's box
#: moves down).
LINES = """(el) => {
    const lines = [];
    let top = null, line = "";
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (let i = 0; i < node.length; i++) {
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const box = range.getClientRects()[0];
            if (!box) continue;
            if (top !== null && box.top > top + 1) { lines.push(line); line = ""; }
            top = box.top;
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
    from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, playwright_api

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
    from tests.e2e.test_browser import check_accessible, shot

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


def test_an_error_page_keeps_the_request_id_whole_at_320_px(chromium: Any, tmp_path: Path) -> None:
    running = serve_demo(tmp_path, "rid", {"IDGATE_ADMIN_PASSWORD": DEMO_PASSWORD})
    try:
        context = chromium.new_context(viewport={"width": 320, "height": 640})
        page = context.new_page()
        page.goto(f"http://localhost:{running.port}/dex/auth?client_id=nobody&response_type=code")
        codes = page.locator("footer code")
        assert codes.count() == 2, page.content()  # the error's code and the request id
        for code in codes.all():
            assert len(code.evaluate(LINES)) == 1, code.evaluate(LINES)
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 320
        context.close()
    finally:
        assert stop_idgate(running) == 0, running.output()


async def test_demo_admin_password_from_environment(tmp_path: Path) -> None:
    running = serve_demo(tmp_path, "env", {"IDGATE_ADMIN_PASSWORD": "correct horse battery"})
    try:
        assert "correct horse battery" not in running.output()
        async with Browser() as b:
            hops = await b.get(running.url("demo", "/"))
            hops = await b.submit(
                hops[-1], {"login": "admin@example.com", "password": "correct horse battery"}
            )
        assert hops[-1].status == 200 and hops[-1].url == running.url("demo", "/")
    finally:
        assert stop_idgate(running) == 0, running.output()

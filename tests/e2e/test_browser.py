"""A person in a real browser: Playwright drives Debian's Chromium (``/usr/bin/chromium``; never a
downloaded browser) against idgate running the KKP example values. Each test leaves a screenshot in
``tests/e2e/screenshots/`` (ignored by git); ``docs/screenshots/`` holds copies for the README.

Every page a test visits is checked for the basics of accessibility (:func:`check_accessible`): a
language, one ``h1``, a label for every input, no script, and no horizontal scrolling (also at 320 px).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    Upstream,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
)

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROMETHEUS_SECRET = "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX"  # tests/fixtures/kkp-values.yaml

# A missing browser is a failure, never a skip: `make test` installs both (scripts/system-deps, pyproject).
assert os.path.exists(CHROMIUM), f"{CHROMIUM} missing: Debian's chromium is installed by scripts/system-deps"
import playwright.sync_api as playwright_api  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 720, "height": 640})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


_FACTS = """() => ({
    lang: document.documentElement.lang,
    h1: document.querySelectorAll("h1").length,
    unlabelled: [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
        .filter((e) => e.labels.length === 0).map((e) => e.name || e.id),
    overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    scripts: document.scripts.length,
})"""


def check_accessible(page: Any) -> None:
    """A language, one heading 1, every input labelled, no script, nothing wider than the window."""
    facts = page.evaluate(_FACTS)
    assert facts == {"lang": "en", "h1": 1, "unlabelled": [], "overflow": 0, "scripts": 0}, (page.url, facts)


def log_in(page: Any, password: str = PASSWORD) -> None:
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_a_person_logs_in_lands_where_they_asked_and_signs_out(page: Any, idgate: Running) -> None:
    target = idgate.url("grafana", "/d/abc?orgId=1")
    page.goto(target)
    assert "/dex/" in page.url
    assert page.locator("input[name=password]").is_visible()
    check_accessible(page)
    shot(page, "login")

    log_in(page, "not the password")
    assert "/dex/" in page.url
    assert page.get_by_text("Invalid email or password").is_visible()
    check_accessible(page)
    shot(page, "login-error")

    log_in(page)
    page.wait_for_url(target)
    assert json.loads(page.locator("body").inner_text())["path"] == "/d/abc?orgId=1"  # the upstream's answer
    shot(page, "landed")

    assert "grafana_oauth2_proxy" in {c["name"] for c in page.context.cookies()}
    page.goto(idgate.url("grafana", "/oauth/sign_out"))
    check_accessible(page)
    shot(page, "signed-out")
    assert "grafana_oauth2_proxy" not in {c["name"] for c in page.context.cookies()}


def test_a_person_logs_in_with_the_keyboard_alone_and_sees_where_the_focus_is(
    page: Any, idgate: Running
) -> None:
    target = idgate.url("grafana", "/")
    page.goto(target)
    # The first field takes the focus by itself (autofocus). Chromium applies it after the page has
    # loaded, so wait for it as a person would look for the caret: keys typed before it are lost.
    playwright_api.expect(page.locator("input[name=login]")).to_be_focused()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.input_value("input[name=login]") == EMAIL
    assert page.input_value("input[name=password]") == PASSWORD
    focused = page.evaluate(
        "() => [document.activeElement.type, getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused == ["submit", "solid"]
    page.keyboard.press("Enter")
    page.wait_for_url(target)


def test_sign_out_asks_for_the_password_again(page: Any, idgate: Running) -> None:
    target = idgate.url("grafana", "/")
    page.goto(target)
    log_in(page)
    page.wait_for_url(target)
    page.goto(idgate.url("grafana", "/oauth/sign_out"))
    assert "not registered" not in page.locator("body").inner_text()
    page.goto(target)
    assert page.locator("input[name=password]").is_visible()


def _provider(idgate: Running, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    basic = base64.b64encode(f"prometheus:{PROMETHEUS_SECRET}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", idgate.port, timeout=10)
    try:
        conn.request(
            "POST",
            f"/dex{path}",
            body=urlencode(form),
            headers={
                "Host": f"kkp.localhost:{idgate.port}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {basic}",
            },
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_device_flow_code_entered_in_the_browser(page: Any, idgate: Running) -> None:
    status, started = _provider(idgate, "/device/code", {"scope": "openid email"})
    assert status == 200, started
    page.goto(started["verification_uri"])
    page.fill("input[name=user_code]", started["user_code"])
    check_accessible(page)
    shot(page, "device-code")
    page.click("button[type=submit]")
    log_in(page)
    page.get_by_text("Device connected").wait_for()
    shot(page, "device-done")

    deadline = time.monotonic() + 30
    interval = float(started.get("interval", 5))
    while True:
        status, answer = _provider(
            idgate,
            "/token",
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": started["device_code"],
            },
        )
        if status == 200 or answer.get("error") not in ("authorization_pending", "slow_down"):
            break
        assert time.monotonic() < deadline, answer
        interval += 5 if answer.get("error") == "slow_down" else 0
        time.sleep(interval)
    assert status == 200, answer
    assert answer["id_token"] and answer["access_token"]


def test_unknown_host_shows_a_404_page(page: Any, idgate: Running) -> None:
    response = page.goto(f"http://nowhere.localhost:{idgate.port}/")
    assert response is not None and response.status == 404
    assert page.locator("h1").is_visible()
    assert page.locator("a").count() == 0  # nothing to follow from a host that is not ours
    check_accessible(page)
    shot(page, "error-404")


def test_a_refused_person_sees_why_and_can_sign_in_as_someone_else(page: Any, idgate: Running) -> None:
    """Prometheus requires GitHub org ``mygithuborg``; the local user is in no org."""
    page.goto(idgate.url("prometheus", "/graph"))
    log_in(page)
    page.wait_for_load_state()
    sentence = page.locator("main p", has_text="You are signed in as").inner_text()
    assert sentence == (
        f"You are signed in as {EMAIL}, but this service does not let you in: "
        "you are not a member of the required GitHub organisation."
    )
    assert page.locator("p.reason").inner_text() == "Reason: github_org_not_allowed"  # apart, small
    assert page.locator("p.reason").evaluate("(p) => parseFloat(getComputedStyle(p).fontSize)") < 16
    assert page.get_by_role("link", name="Home").count() == 0  # home would refuse them again
    check_accessible(page)
    shot(page, "error-403")

    page.get_by_role("link", name="Sign in as someone else").click()
    page.get_by_role("heading", name="Logged out").wait_for()  # the proxy's and the provider's sessions end
    check_accessible(page)
    page.get_by_role("link", name="Back to Prometheus").click()
    assert page.locator("input[name=password]").is_visible()  # a login again, for anyone


def test_a_refused_person_can_sign_out(page: Any, idgate: Running) -> None:
    page.goto(idgate.url("prometheus", "/graph"))
    log_in(page)
    page.get_by_text("Access denied").wait_for()
    page.get_by_role("link", name="Sign out", exact=True).click()
    page.get_by_role("heading", name="Logged out").wait_for()
    assert "prometheus_oauth2_proxy" not in {c["name"] for c in page.context.cookies()}
    check_accessible(page)


def test_the_device_link_carries_the_code_as_the_device_shows_it(page: Any, idgate: Running) -> None:
    status, started = _provider(idgate, "/device/code", {"scope": "openid email"})
    assert status == 200, started
    shown = started["user_code"]
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", shown)
    assert parse_qs(urlsplit(started["verification_uri_complete"]).query) == {"user_code": [shown]}
    page.goto(started["verification_uri_complete"])
    assert page.input_value("input[name=user_code]") == shown
    page.goto(started["verification_uri"] + "?user_code=" + shown.replace("-", "").lower())
    assert page.input_value("input[name=user_code]") == shown  # typed without the dash: the same form
    page.click("button[type=submit]")
    log_in(page)
    page.get_by_text("Device connected").wait_for()


def test_the_log_out_question_can_be_cancelled(page: Any, idgate: Running) -> None:
    target = idgate.url("grafana", "/")
    page.goto(target)
    log_in(page)
    page.wait_for_url(target)
    page.goto(idgate.url("kkp", "/dex/logout"))  # no id_token_hint: the provider asks
    page.get_by_role("heading", name="Log out?").wait_for()
    check_accessible(page)
    shot(page, "logout-confirm")
    page.get_by_role("button", name="Cancel").click()
    page.get_by_role("heading", name="Still logged in").wait_for()
    page.goto(idgate.url("kkp", "/dex/logout"))  # the session is still there: it asks again
    page.get_by_role("heading", name="Log out?").wait_for()
    page.goto(idgate.url("kkp", "/dex/logout?client_id=grafana"))  # a known client: back to it
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(target)
    assert page.locator("input[name=password]").count() == 0  # still signed in


@pytest.fixture
def narrow(browser: Any) -> Iterator[Any]:
    """A 320 px wide phone in dark mode."""
    context = browser.new_context(viewport={"width": 320, "height": 640}, color_scheme="dark")
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def test_every_page_fits_320_px_in_dark_mode(narrow: Any, idgate: Running) -> None:
    narrow.goto(idgate.url("grafana", "/d/abc"))
    check_accessible(narrow)
    shot(narrow, "login-320-dark")
    log_in(narrow, "not the password")
    check_accessible(narrow)
    shot(narrow, "login-error-320-dark")
    narrow.goto(idgate.url("prometheus", "/graph"))
    log_in(narrow)
    narrow.get_by_text("Access denied").wait_for()
    check_accessible(narrow)
    shot(narrow, "error-403-320-dark")
    narrow.goto(idgate.url("kkp", "/dex/device"))
    check_accessible(narrow)
    narrow.goto(idgate.url("kkp", "/dex/logout"))
    check_accessible(narrow)
    narrow.goto(f"http://nowhere.localhost:{idgate.port}/")
    check_accessible(narrow)


@pytest.fixture(scope="module")
def themed(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The KKP example with a display name and a ``dex.theme`` (logo and styles.css), as a Dex theme, and
    Grafana's sign-in page shown (``skip_provider_button: false``) with a banner and a footer."""
    tmp = tmp_path_factory.mktemp("themed")
    port = free_port()
    values = local_values(port, upstream.port, tmp / "data")
    values["dex"]["frontend"] = {"issuer": "ACME Corp"}
    values["dex"]["theme"] = {
        "logo.svg": base64.b64encode(THEME_LOGO).decode(),
        "styles.css": base64.b64encode(THEME_CSS).decode(),
    }
    values["iap"]["deployments"]["grafana"]["config"].update(
        skip_provider_button=False,
        banner="Monitoring for the ACME operations team.",
        footer="ACME IT · ext. 4242",
    )
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    running = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log")
    yield running
    assert stop_idgate(running) == 0, running.output()


THEME_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="48" height="48">'
    b'<rect width="48" height="48" rx="24" fill="#1f6f43"/><path d="M14 34 24 12l10 22z" fill="#fff"/></svg>'
)
THEME_CSS = b":root { --accent: #1f6f43; --accent-hover: #17563a; --link: #1f6f43; --focus: #1f6f43; }\n"


def test_a_dex_theme_gives_the_provider_pages_their_name_logo_and_colours(page: Any, themed: Running) -> None:
    page.goto(themed.url("grafana", "/oauth/sign_in?rd=/d/abc"))
    assert page.locator(".banner").inner_text() == "Monitoring for the ACME operations team."
    assert page.locator("footer").inner_text() == "ACME IT · ext. 4242"
    check_accessible(page)
    shot(page, "sign-in")
    page.get_by_role("link", name="Sign in with").click()
    assert page.title() == "Log in · ACME Corp"
    assert page.locator(".brand").inner_text() == "ACME Corp"
    logo = page.locator(".brand img")
    assert logo.evaluate("(img) => img.naturalWidth") > 0  # served by the provider, allowed by its CSP
    button = page.locator("button[type=submit]")
    assert button.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgb(31, 111, 67)"
    check_accessible(page)
    shot(page, "login-themed")

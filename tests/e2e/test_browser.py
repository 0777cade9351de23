"""A person in a real browser: Playwright drives Debian's Chromium (``/usr/bin/chromium``; never a
downloaded browser) against idgate running the KKP example values. Each test leaves a screenshot in
``tests/e2e/screenshots/`` (ignored by git); ``docs/screenshots/`` holds copies for the README."""

from __future__ import annotations

import base64
import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tests.e2e.harness import EMAIL, PASSWORD, Running

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
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def log_in(page: Any, password: str = PASSWORD) -> None:
    page.fill("input[name=login]", EMAIL)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_a_person_logs_in_lands_where_they_asked_and_signs_out(page: Any, idgate: Running) -> None:
    target = idgate.url("grafana", "/d/abc?orgId=1")
    page.goto(target)
    assert "/dex/" in page.url
    assert page.locator("input[name=password]").is_visible()
    shot(page, "login")

    log_in(page, "not the password")
    assert "/dex/" in page.url
    assert page.get_by_text("Invalid email or password").is_visible()
    shot(page, "login-error")

    log_in(page)
    page.wait_for_url(target)
    assert json.loads(page.locator("body").inner_text())["path"] == "/d/abc?orgId=1"  # the upstream's answer
    shot(page, "landed")

    assert "grafana_oauth2_proxy" in {c["name"] for c in page.context.cookies()}
    page.goto(idgate.url("grafana", "/oauth/sign_out"))
    shot(page, "signed-out")
    assert "grafana_oauth2_proxy" not in {c["name"] for c in page.context.cookies()}


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
    shot(page, "error-404")


def test_a_refused_person_sees_a_403_that_says_why(page: Any, idgate: Running) -> None:
    """Prometheus requires GitHub org ``mygithuborg``; the local user is in no org."""
    page.goto(idgate.url("prometheus", "/graph"))
    log_in(page)
    page.wait_for_load_state()
    assert "github" in page.locator("body").inner_text().lower()
    shot(page, "error-403")

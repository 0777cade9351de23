"""A person in thousands of groups, in Chromium, signing in at the certified ``oidc-provider`` (npm) through
``idgate serve`` with cookie sessions: 3,000 groups (an ID token of ~30 KB) sign in and reach the
upstream with every group; 10,000 get idgate's page that says why.

A real browser, because the test client's cookie jar (aiohttp's) sends at most 8 KB of cookies, which a
chunked session passes; Chromium sends them all, as browsers do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Upstream
from tests.e2e.test_browser import browser, check_accessible, page, shot
from tests.interop.conftest import ACCOUNT, ACCOUNT_ID, ProxyWorld, start_proxy_world, stop_proxy_world
from tests.many_groups import many_groups

pytestmark = pytest.mark.e2e
__all__ = ["browser", "page"]  # the Chromium fixtures, shared with tests/e2e/test_browser.py


def groups_world(node: str, upstream: Upstream, tmp: Path, groups: list[str]) -> ProxyWorld:
    return start_proxy_world(node, upstream, tmp, account={**ACCOUNT, "groups": groups})


@pytest.fixture
def world_3000(node: str, upstream: Upstream, tmp_path: Path) -> Iterator[tuple[ProxyWorld, list[str]]]:
    groups = many_groups(3000)
    world = groups_world(node, upstream, tmp_path, groups)
    yield world, groups
    stop_proxy_world(world)


@pytest.fixture
def world_10000(node: str, upstream: Upstream, tmp_path: Path) -> Iterator[ProxyWorld]:
    world = groups_world(node, upstream, tmp_path, many_groups(10_000))
    yield world
    stop_proxy_world(world)


def sign_in_at_oidc_provider(page: Any, world: ProxyWorld, target: str) -> None:
    """From the protected app to ``oidc-provider``'s login and consent pages, and on."""
    page.goto(target)
    assert page.url.startswith(world.issuer + "/interaction/"), page.url
    page.fill("input[name=login]", ACCOUNT_ID)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.url.startswith(world.issuer + "/interaction/"):  # consent to the scopes
        page.click("button[type=submit]")
        page.wait_for_load_state()


def test_3000_groups_sign_in_with_a_cookie_session_in_a_real_browser(
    page: Any, world_3000: tuple[ProxyWorld, list[str]], upstream: Upstream
) -> None:
    world, groups = world_3000
    upstream.clear()
    target = world.url("/d/abc")
    sign_in_at_oidc_provider(page, world, target)
    page.wait_for_url(target)
    assert json.loads(page.locator("body").inner_text())["path"] == "/d/abc"
    chunks = [c for c in page.context.cookies() if c["name"].startswith("grafana_oauth2_proxy_")]
    assert 1 < len(chunks) <= 8, [c["name"] for c in chunks]
    headers = {k.lower(): v for k, v in upstream.seen[-1].headers.items()}
    assert headers["x-forwarded-groups"] == ",".join(groups)

    page.goto(world.url("/oauth/userinfo"))
    assert json.loads(page.locator("body").inner_text())["groups"] == groups
    page.goto(world.url("/oauth/sign_out"))
    assert not [c for c in page.context.cookies() if c["name"].startswith("grafana_oauth2_proxy")]


def test_10000_groups_see_a_page_that_says_why_in_a_real_browser(
    page: Any, world_10000: ProxyWorld, upstream: Upstream
) -> None:
    upstream.clear()
    sign_in_at_oidc_provider(page, world_10000, world_10000.url("/d/abc"))
    assert page.url.startswith(world_10000.url("/oauth/callback"))
    assert page.locator("h1").inner_text() == "Too many groups for a cookie"
    assert page.get_by_text("keep sessions in Redis instead").is_visible()
    check_accessible(page)
    shot(page, "too-many-groups")
    assert upstream.seen == []
    assert not [c for c in page.context.cookies() if c["name"].startswith("grafana_oauth2_proxy")]
    said = [line for line in world_10000.idgate.output().splitlines() if "431" in line and "Redis" in line]
    assert len(said) == 1 and "proxy grafana: /oauth/callback 431: session of " in said[0], said
    assert "idgate.sessions: redis://" in said[0]

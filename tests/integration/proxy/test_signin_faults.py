"""The sign-in flow through the edge when what it depends on goes away: a real Redis of the test's own
stopped between ``/oauth/start`` and the callback, or between sign-in and sign-out; the identity
provider unreachable or failing. Each is an idgate page with the right status and the edge's request id;
sign-out always clears the browser's cookies and says when the server side could not be reached."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.integration.proxy.edge_world import (
    EdgeWorld,
    cookie_pairs,
    edge_world,
    follow_provider,
    set_cookies,
    sign_in,
)
from tests.integration.sessions.redis_server import RedisServer
from tests.unit.edge.conftest import Client, Response

from idgate.oidc.client import METADATA_TTL

SESSION, CSRF = "app_oauth2_proxy", "app_oauth2_proxy_csrf"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def heading(r: Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", r.body.decode())
    assert found, r.body[:500]
    return found.group(1)


def assert_idgate_page(r: Response, status: int, title: str) -> str:
    """An idgate page (not aiohttp's bare text) with ``status`` and ``title``, naming the edge's
    request id; its text."""
    page = r.body.decode()
    assert r.status == status, page[:500]
    assert (r.header("Content-Type") or "").startswith("text/html")
    assert heading(r) == title and f'<p class="eyebrow">Error {status}</p>' in page
    rid = r.header("X-Request-Id")
    assert rid and f"Request id <code>{rid}</code>" in page
    assert r.header("Cache-Control") == "no-store"
    return page


def cleared(r: Response) -> dict[str, str]:
    """The cookies ``r`` deletes, with their whole ``Set-Cookie`` value."""
    return {name: value for name, value in set_cookies(r).items() if "Max-Age=0" in value}


async def half_signed_in(w: EdgeWorld, c: Client) -> tuple[Response, str]:
    """``/oauth/start`` and the provider's answer: the start response and the callback path."""
    start = await c.get("/oauth/start?rd=%2Fdash")
    assert start.status == 302
    back = urlsplit(await follow_provider(start.header("Location") or ""))
    return start, f"{back.path}?{back.query}"


async def test_redis_down_when_the_login_finishes_is_a_503_page_and_sets_no_session(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with edge_world(tmp_path, session_store=redis.url) as w:
        c = await w.client()
        start, callback = await half_signed_in(w, c)
        redis.stop()
        r = await c.get(callback, headers=f"Cookie: {cookie_pairs(start)}\r\n")
        page = assert_idgate_page(r, 503, "Session store unavailable")
        assert "could not be reached" in page and 'href="/oauth/start"' in page
        assert SESSION not in set_cookies(r)  # no session cookie set
        assert CSRF in cleared(r)  # the spent sign-in state is removed
        redis.start()  # back on the same port: the next sign-in works without a restart
        _, done = await sign_in(w, c, rd="/dash")
        assert done.status == 302 and done.header("Location") == "/dash"
        assert SESSION in set_cookies(done)
        await c.close()


async def test_sign_out_while_redis_is_down_clears_every_cookie_and_says_so(
    tmp_path: Path, redis: RedisServer
) -> None:
    async with edge_world(tmp_path, session_store=redis.url, cookie_domains=("app.test",)) as w:
        c = await w.client()
        _, callback = await sign_in(w, c)
        cookies = f"{cookie_pairs(callback)}; {SESSION}_1=stale-chunk; {CSRF}=left-over"
        redis.stop()
        r = await c.get("/oauth/sign_out?rd=%2Fbye", headers=f"Cookie: {cookies}\r\n")
        page = assert_idgate_page(r, 503, "Signed out in this browser only")
        assert "session store could not be reached" in page
        gone = cleared(r)
        assert set(gone) == {SESSION, f"{SESSION}_1", CSRF}
        for value in gone.values():
            assert "Path=/" in value and "Domain=app.test" in value
        # the way on: the provider's sign-out, back to the validated target
        assert f'href="{w.idp.issuer}/logout?client_id=' in page and "%2Fbye" in page
        await c.close()


async def test_userinfo_while_redis_is_down_is_a_503_page(tmp_path: Path, redis: RedisServer) -> None:
    async with edge_world(tmp_path, session_store=redis.url) as w:
        c = await w.client()
        _, callback = await sign_in(w, c)
        cookie = f"Cookie: {cookie_pairs(callback)}\r\n"
        assert (await c.get("/oauth/userinfo", headers=cookie)).status == 200
        redis.stop()
        r = await c.get("/oauth/userinfo", headers=cookie)
        assert_idgate_page(r, 503, "Session store unavailable")
        await c.close()


async def test_provider_unreachable_at_the_callback_is_a_502_page(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        start, callback = await half_signed_in(w, c)
        await w.idp.close()
        r = await c.get(callback, headers=f"Cookie: {cookie_pairs(start)}\r\n")
        page = assert_idgate_page(r, 502, "Identity provider unavailable")
        assert "could not be reached" in page
        assert SESSION not in set_cookies(r) and CSRF in cleared(r)
        await c.close()


async def test_provider_failing_at_the_callback_or_the_start_is_a_502_page(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        start, callback = await half_signed_in(w, c)
        w.idp.down = True  # the token endpoint answers 5xx
        r = await c.get(callback, headers=f"Cookie: {cookie_pairs(start)}\r\n")
        assert_idgate_page(r, 502, "Identity provider unavailable")
        assert SESSION not in set_cookies(r)
        await w.idp.close()  # discovery unreachable once the kept document is due again
        w.clock.advance(METADATA_TTL + 1)
        r = await c.get("/oauth/start")
        assert_idgate_page(r, 502, "Identity provider unavailable")
        assert set_cookies(r) == cleared(r)  # no sign-in state was started
        await c.close()


async def test_a_method_the_app_does_not_serve_is_a_405_page(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        r = await c.request(b"PUT /oauth/start HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n\r\n")
        assert_idgate_page(r, 405, "Method not allowed")
        await c.close()

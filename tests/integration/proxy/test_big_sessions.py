"""A person in thousands of groups signs in through the edge: the provider's token response (an ID token of
~30 KB for 3,000 groups, ~95 KB for 10,000) arrives in slow pieces and is read whole; 3,000 groups fit a
cookie session (deflated); 10,000 do not and get a page that says why, while the log tells the operator
to use Redis sessions, with which 10,000 sign in."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from tests.integration.proxy.edge_world import EdgeWorld, cookie_pairs, edge_world, set_cookies, sign_in
from tests.integration.proxy.oidc_double import OIDCDouble
from tests.integration.sessions.test_redis_store import REDIS_URL
from tests.many_groups import many_groups
from tests.unit.edge.conftest import NOW, alice

from idgate.sessions.sealing import MAX_CHUNKS, MAX_COOKIE_VALUE

HOST = "app.test:8080"
SESSION = "app_oauth2_proxy"
BROWSER = "Accept: text/html\r\n"


GROUPS_3000, GROUPS_10000 = many_groups(3000), many_groups(10_000)


def provider(groups: list[str]) -> OIDCDouble:
    idp = OIDCDouble(redirect_uris=(f"http://{HOST}/oauth/callback",), slow_pieces=10)
    idp.claims["groups"] = groups
    return idp


async def _echo_groups(request: web.Request) -> web.Response:
    groups = request.headers.get("X-Forwarded-Groups", "")
    return web.json_response({"groups": groups.split(",") if groups else []})


@asynccontextmanager
async def roomy_upstream() -> AsyncIterator[str]:
    """An upstream that accepts the identity headers of thousands of groups (aiohttp's 8 KB field limit is
    a choice of the test server, not of the proxy)."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _echo_groups)
    runner = web.AppRunner(app, access_log=None, max_field_size=1 << 20, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def world(tmp_path: Path, groups: list[str], **settings: Any) -> AsyncIterator[EdgeWorld]:
    async with (
        roomy_upstream() as up,
        edge_world(tmp_path, idp=provider(groups), upstream=up, **settings) as w,
    ):
        yield w


async def test_token_response_of_3000_groups_in_slow_pieces_signs_in_with_a_cookie_session(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, GROUPS_3000) as w:
        c = await w.client()
        _, callback = await sign_in(w, c, "/dash")
        assert callback.status == 302, callback.body[:300]
        assert callback.header("Location") == "/dash"
        chunks = {n: v for n, v in set_cookies(callback).items() if n.removeprefix(SESSION + "_").isdigit()}
        # 4 cookies (14 KB); undeflated, with the ID token kept as a sign-out hint, it took 18 (67 KB).
        assert 1 < len(chunks) <= 4
        assert all(len(v.split(";", 1)[0]) <= len(n) + 1 + MAX_COOKIE_VALUE for n, v in chunks.items())
        cookie = f"Cookie: {cookie_pairs(callback)}\r\n"

        page = await c.get("/dash", headers=cookie)
        assert page.status == 200 and page.json()["groups"] == GROUPS_3000
        info = await c.get("/oauth/userinfo", headers=cookie)  # the sign-in app reads the whole Cookie
        assert info.status == 200 and info.json()["groups"] == GROUPS_3000

        out = await c.get("/oauth/sign_out", headers=cookie)
        assert out.status == 302
        cleared = {n for n, v in set_cookies(out).items() if "Max-Age=0" in v}
        assert set(chunks) <= cleared
        # The 30 KB ID token was not kept as id_token_hint: sign-out names the client instead.
        location = urlsplit(out.header("Location") or "")
        assert f"{location.scheme}://{location.netloc}{location.path}" == w.idp.issuer + "/logout"
        ended = parse_qs(location.query)
        assert "id_token_hint" not in ended and ended["client_id"] == [w.idp.client_id]
        await c.close()


async def test_10000_groups_get_a_page_and_the_operator_a_log_line_with_cookie_sessions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="idgate.proxy")
    async with world(tmp_path, GROUPS_10000) as w:
        c = await w.client()
        _, callback = await sign_in(w, c, "/dash")
        page = callback.body.decode()
        assert callback.status == 431
        assert "<h1>Too many groups for a cookie</h1>" in page and "keep sessions in Redis" in page
        assert "Request id <code>" in page
        assert not any(
            n.startswith(SESSION) and "Max-Age=0" not in v for n, v in set_cookies(callback).items()
        )
        await c.close()
    [line] = [r.getMessage() for r in caplog.records if "Redis" in r.getMessage()]
    assert line.startswith("proxy app: /oauth/callback 431: session of ")
    size = int(line.split("session of ", 1)[1].split()[0])
    assert size > MAX_CHUNKS * MAX_COOKIE_VALUE  # 47 KB sealed and deflated (219 KB as it was)
    assert "idgate.sessions: redis://" in line and w.idp.client_secret not in line


async def test_10000_groups_sign_in_with_redis_sessions(tmp_path: Path) -> None:
    name = f"big-{os.getpid()}"
    async with world(tmp_path, GROUPS_10000, name=name, session_store=REDIS_URL) as w:
        c = await w.client()
        _, callback = await sign_in(w, c, "/dash")
        assert callback.status == 302, callback.body[:300]
        [ticket] = [
            n for n, v in set_cookies(callback).items() if "Max-Age=0" not in v and n != f"{name}_csrf"
        ]
        cookie = f"Cookie: {cookie_pairs(callback)}\r\n"
        assert ticket == f"{name}_oauth2_proxy" and len(cookie) < 400
        page = await c.get("/dash", headers=cookie)
        assert page.status == 200 and page.json()["groups"] == GROUPS_10000
        assert (await c.get("/oauth/sign_out", headers=cookie)).status == 302
        w.clock.advance(3.0)  # past the edge's 2 s memo of Redis sessions
        assert (await c.get("/dash", headers=BROWSER + cookie)).status == 302  # signed out
        await c.close()


async def test_a_refresh_that_outgrows_the_cookie_ends_the_session_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="idgate.sessions")
    async with world(tmp_path, GROUPS_10000, cookie_refresh=60.0) as w:
        w.idp.refresh_tokens = True
        stale = alice(user="alice-id", refresh_token="rt-old", created_at=NOW - 120)
        c = await w.client()
        r = await c.get("/x", headers=BROWSER + await w.cookie(stale))
        assert r.status == 302 and (r.header("Location") or "").startswith("/oauth/start?rd=")
        assert "Max-Age=0" in set_cookies(r)[SESSION] and w.idp.refreshes == 1
        await c.close()
    [record] = [r for r in caplog.records if "Redis" in r.getMessage()]
    assert record.levelno == logging.WARNING and record.deployment == "app"  # type: ignore[attr-defined]
    assert "ending the session: session of " in record.getMessage()

"""State, CSRF and sessions on the running product. The state checks themselves (missing, altered,
replayed, expired state; callback without the CSRF cookie) are in
``tests/integration/proxy/test_signin_flow.py``; here: login CSRF through the real callback, session
fixation (a new session on every login, at the proxy and at the provider), malformed, oversized and
thousands of chunk cookies (never a 500), and sign-out."""

from __future__ import annotations

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream
from tests.security.flows import login_page, sign_in
from tests.security.rawhttp import exchange, status
from yarl import URL

pytestmark = pytest.mark.e2e

PROXY_COOKIE = "grafana_oauth2_proxy"  # the KKP example names it after the deployment


async def test_a_callback_from_another_browser_does_not_log_it_in(
    idgate: Running, upstream: Upstream
) -> None:
    """Login CSRF: the attacker's own code and state, delivered to the victim's browser, give no session."""
    async with Browser() as attacker:
        hops = await attacker.get(idgate.url("grafana", "/"))
        page = login_page(hops)
        done = await attacker.request(
            "POST",
            idgate.url("kkp", "/dex/auth/local/login"),
            data={
                "req": page.body.split('name="req" value="')[1].split('"')[0],
                "login": "kubermatic@example.com",
                "password": "password",
            },
            follow=False,
        )
        callback = done[-1].location or ""
        assert "/oauth/callback?" in callback
    async with Browser() as victim:
        hops = await victim.get(callback, follow=False)
        assert hops[0].status in (400, 403), hops[0].status
        assert not any(
            k.startswith(PROXY_COOKIE) and not k.endswith("_csrf")
            for k in victim.cookies_for(idgate.url("grafana"))
        )


async def test_every_login_starts_a_new_session(idgate: Running) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        first = b.cookies_for(idgate.url("grafana"))[PROXY_COOKIE]
        provider_first = b.cookies_for(idgate.url("kkp", "/dex/"))["idgate_session"]
        # a fixated cookie value planted before the login is not adopted
        b.jar.update_cookies({PROXY_COOKIE: "planted"}, response_url=URL(idgate.url("grafana")))
        await b.get(idgate.url("grafana", "/oauth/sign_out"))
        await b.get(idgate.url("grafana", "/"))
        second = b.cookies_for(idgate.url("grafana")).get(PROXY_COOKIE)
    assert second not in (first, "planted")
    assert provider_first


@pytest.mark.parametrize(
    "cookie",
    [
        f"{PROXY_COOKIE}=" + "A" * 3000,
        f"{PROXY_COOKIE}=%%%%",
        f"{PROXY_COOKIE}=\x7f\x01",
        f"{PROXY_COOKIE}_0=" + "A" * 100 + f"; {PROXY_COOKIE}_1=" + "B" * 100,
        "; ".join(f"{PROXY_COOKIE}_{i}=x" for i in range(3000)),
        f"{PROXY_COOKIE}_999999999999999999999=x",
        f"{PROXY_COOKIE}=a; {PROXY_COOKIE}=b",
        "=" * 500,
    ],
)
def test_malformed_or_huge_session_cookies_are_refused_cleanly(
    idgate: Running, upstream: Upstream, cookie: str
) -> None:
    upstream.clear()
    raw = f"GET /private HTTP/1.1\r\nHost: grafana.localhost:{idgate.port}\r\nCookie: {cookie}\r\n\r\n"
    got = exchange(idgate.port, raw.encode("latin-1"), wait_close=False)
    assert status(got) in (302, 400, 401, 431), got[:200]
    assert upstream.seen == []


async def test_sign_out_clears_the_session_cookies(idgate: Running) -> None:
    """A copy of the cookie is refused afterwards (and cleared): the next test; the Redis store deletes the
    session: tests/integration/sessions/test_redis_store.py ``test_sign_out_drop_removes_the_session``."""
    async with Browser() as b:
        await sign_in(b, idgate)
        assert PROXY_COOKIE in b.cookies_for(idgate.url("grafana"))
        await b.get(idgate.url("grafana", "/oauth/sign_out"))
        assert PROXY_COOKIE not in b.cookies_for(idgate.url("grafana"))
        hops = await b.get(idgate.url("grafana", "/private"), follow=False)
        assert hops[0].status == 302


def _cleared(answer: bytes) -> bool:
    """The answer's ``Set-Cookie`` headers clear the session cookie (an empty value that expires now)."""
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower().split("\r\n")
    sets = [line for line in head if line.startswith(f"set-cookie: {PROXY_COOKIE}=")]
    return any("max-age=0" in line or "expires=thu, 01 jan 1970" in line for line in sets)


async def test_a_signed_out_or_altered_cookie_is_refused_and_cleared(
    idgate: Running, upstream: Upstream
) -> None:
    """OAuth2-Proxy clears a session cookie it cannot load; so does idgate, or the browser would send a
    signed-out copy (or a broken cookie) with every request until it expires."""
    async with Browser() as b:
        await sign_in(b, idgate)
        copy = b.cookies_for(idgate.url("grafana"))[PROXY_COOKIE]
        await b.get(idgate.url("grafana", "/oauth/sign_out"))
    for value in (copy, copy[:-8] + "AAAAAAAA", "garbage"):
        upstream.clear()
        host = f"grafana.localhost:{idgate.port}"
        raw = f"GET /private HTTP/1.1\r\nHost: {host}\r\nCookie: {PROXY_COOKIE}={value}\r\n\r\n"
        got = exchange(idgate.port, raw.encode("latin-1"))
        assert status(got) == 302, got[:300]
        assert _cleared(got), got[:1500]
        assert upstream.seen == []

"""Real sessions by scripted logins (the scripted browser of ``tests/e2e``), and the login-rate driver.

* :func:`browser_login`: GET a protected URL, follow the redirects to the provider's login form, post the
  password, follow back; returns the ``Cookie`` header the browser now sends to that host. Works for
  idgate's proxy and for Apache + mod_auth_openidc (both sign in at idgate's provider).
* :func:`login_rate`: logins per second at idgate's provider (``/auth`` -> form -> POST -> code).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from ssl import SSLContext
from urllib.parse import urlencode, urljoin

import aiohttp
from tests.e2e.browser import Browser, forms

from bench.configs import BENCH_REDIRECT, EMAIL, TOKEN_USERS, token_user
from bench.provider import CHALLENGE, VERIFIER
from idgate.net import LocalResolver


async def browser_login(url: str, password: str, ssl: SSLContext | None = None) -> str:
    """Sign in through ``url`` (a protected page) and return the Cookie header for its host (``ssl``:
    the context for an https ``url``)."""
    async with Browser(max_hops=12, ssl=ssl) as b:
        hops = await b.get(url)
        page = hops[-1]
        if page.status != 200 or "password" not in page.body.lower():
            raise RuntimeError(f"no login form after {[(h.url, h.status) for h in hops]}: {page.body[:300]}")
        hops = await b.submit(page, {"login": EMAIL, "password": password})
        last = hops[-1]
        if last.status != 200 or last.url.split("?")[0] != url.split("?", maxsplit=1)[0]:
            raise RuntimeError(f"login did not come back to {url}: {[(h.url, h.status) for h in hops]}")
        cookies = b.cookies_for(url)
    if not cookies:
        raise RuntimeError(f"no cookie for {url} after login")
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


@dataclass(frozen=True, slots=True)
class LoginRate:
    logins: int
    failures: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.logins / self.seconds if self.seconds else 0.0


async def _one_login(http: aiohttp.ClientSession, issuer: str, password: str, email: str) -> bool:
    query = urlencode(
        {
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
            "client_id": "rp",
            "redirect_uri": BENCH_REDIRECT,
            "response_type": "code",
            "scope": "openid email",
            "state": "bench",
        }
    )
    url = f"{issuer}/auth?{query}"
    http.cookie_jar.clear()  # a new browser each time: no single-sign-on session, a password login
    for _ in range(4):  # /auth -> (connector) -> login form
        async with http.get(url, allow_redirects=False) as resp:
            body = await resp.text()
            if resp.headers.get("Location", "").startswith(BENCH_REDIRECT):
                return False  # answered without a login (an error, or a session the jar should not have)
            if resp.status in (302, 303) and resp.headers.get("Location"):
                url = urljoin(url, resp.headers["Location"])
                continue
            break
    posts = [f for f in forms(body) if f.method == "post"]
    if not posts:
        return False
    data = {**posts[0].fields, "login": email, "password": password}
    async with http.post(urljoin(url, posts[0].action or url), data=data, allow_redirects=False) as resp:
        await resp.read()
        location = resp.headers.get("Location", "")
    return resp.status in (302, 303) and location.startswith(BENCH_REDIRECT) and "code=" in location


async def login_rate(issuer: str, password: str, *, concurrency: int, seconds: float) -> LoginRate:
    """As many complete logins as ``concurrency`` browsers manage in ``seconds`` (each its own cookies)."""
    deadline = time.monotonic() + seconds
    ok = bad = turn = 0

    async def browser() -> None:
        nonlocal ok, bad, turn
        connector = aiohttp.TCPConnector(resolver=LocalResolver())
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            while time.monotonic() < deadline:
                # a different account each time: idgate throttles repeated logins to one account
                turn += 1
                email = token_user(turn % TOKEN_USERS)[1]
                if await _one_login(http, issuer, password, email):
                    ok += 1
                else:
                    bad += 1

    start = time.monotonic()
    await asyncio.gather(*(browser() for _ in range(concurrency)))
    return LoginRate(ok, bad, time.monotonic() - start)


async def exchange_codes(
    token_url: str, auth: aiohttp.BasicAuth, codes: list[str], concurrency: int = 16
) -> list[str]:
    """Redeem ``codes`` at ``token_url``; returns the refresh tokens issued (empty when none are)."""
    queue = list(codes)
    found: list[str] = []

    async def worker(http: aiohttp.ClientSession) -> None:
        while queue:
            code = queue.pop()
            data = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": BENCH_REDIRECT,
                "code_verifier": VERIFIER,
            }
            async with http.post(token_url, data=data, auth=auth) as resp:
                doc = await resp.json(content_type=None)
            if isinstance(doc, dict) and doc.get("refresh_token"):
                found.append(str(doc["refresh_token"]))

    connector = aiohttp.TCPConnector(resolver=LocalResolver(), limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return found

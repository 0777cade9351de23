"""Every HTML page of the provider, the proxy's sign-in app and the edge carries the page security
headers (CSP without script, ``frame-ancestors 'none'``, ``no-referrer``, ``nosniff``); credential POSTs
are answered with 303; token responses are ``no-store``."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import pytest
from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import EMAIL, PASSWORD, Running
from tests.security.flows import login_page

from idgate.net import LocalResolver

pytestmark = pytest.mark.e2e


def check_page_headers(headers: aiohttp.typedefs.LooseHeaders | object, where: str) -> None:
    h = {k.lower(): v for k, v in dict(headers).items()}  # type: ignore[call-overload]
    csp = h.get("content-security-policy", "")
    assert "text/html" in h.get("content-type", ""), where
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert "script-src" not in csp and "default-src 'none'" in csp, (where, csp)  # no script at all
    assert h.get("referrer-policy") == "no-referrer", where
    assert h.get("x-content-type-options") == "nosniff", where


def auth_query(idgate: Running, **extra: str) -> str:
    params = {
        "client_id": "prometheus",
        "redirect_uri": idgate.url("prometheus", "/oauth/callback"),
        "response_type": "code",
        "scope": "openid email",
        "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
        **extra,
    }
    return urlencode(params)


def html_urls(idgate: Running) -> list[str]:
    kkp = lambda path: idgate.url("kkp", path)  # noqa: E731
    return [
        kkp("/dex/auth?" + auth_query(idgate)),  # -> the login form
        kkp("/dex/auth?client_id=nobody&redirect_uri=x"),  # provider error page
        kkp("/dex/auth/local/login?req=unknown"),  # expired login page
        kkp("/dex/device"),
        kkp("/dex/logout"),  # logout confirmation or logged-out page
        kkp("/dex/callback?state=nothing"),
        idgate.url("grafana", "/oauth/sign_in"),  # proxy sign-in page
        idgate.url("grafana", "/oauth/callback?state=forged&code=x"),  # proxy error page
        idgate.url("nosuchservice", "/"),  # edge 404 page
    ]


async def test_every_html_page_has_the_security_headers(idgate: Running) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    connector = aiohttp.TCPConnector(resolver=LocalResolver())
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        for url in html_urls(idgate):
            async with http.get(url, headers={"Accept": "text/html"}) as resp:
                await resp.read()
                check_page_headers(resp.headers, f"{url} -> {resp.url} {resp.status}")


async def test_password_post_is_answered_with_303(idgate: Running) -> None:
    async with Browser() as b:
        page: Hop = login_page(await b.get(idgate.url("kkp", "/dex/auth?" + auth_query(idgate))))
        assert b.http is not None
        from tests.e2e.browser import forms

        form = forms(page.body)[0]
        data = {**form.fields, "login": EMAIL, "password": PASSWORD}
        url = idgate.url("kkp", form.action)
        async with b.http.post(url, data=data, allow_redirects=False) as resp:
            assert resp.status == 303, resp.status
        # a wrong password: the form again, never a 307 that would repeat the POST elsewhere
        page = login_page(await b.get(idgate.url("kkp", "/dex/auth?" + auth_query(idgate, prompt="login"))))
        form = forms(page.body)[0]
        data = {**form.fields, "login": EMAIL, "password": "wrong-password"}
        async with b.http.post(idgate.url("kkp", form.action), data=data, allow_redirects=False) as resp:
            assert resp.status == 200
            check_page_headers(resp.headers, "login form after a wrong password")


async def test_token_error_responses_are_no_store(idgate: Running) -> None:
    connector = aiohttp.TCPConnector(resolver=LocalResolver())
    async with aiohttp.ClientSession(connector=connector) as http:
        for path in ("/dex/token", "/dex/token/introspect", "/dex/device/code"):
            async with http.post(idgate.url("kkp", path), data={"grant_type": "authorization_code"}) as r:
                assert r.status in (400, 401), path
                assert r.headers["Cache-Control"] == "no-store", path

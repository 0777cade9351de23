"""Browser steps shared by the adversarial suite (a scripted browser over real HTTP)."""

from __future__ import annotations

from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import EMAIL, PASSWORD, Running


def login_page(hops: list[Hop]) -> Hop:
    last = hops[-1]
    assert last.status == 200, [(h.url, h.status) for h in hops]
    assert "/dex/" in last.url and "password" in last.body.lower(), last.url
    return last


async def sign_in(
    b: Browser, idgate: Running, service: str = "grafana", path: str = "/", password: str = PASSWORD
) -> list[Hop]:
    """From a protected page through the provider's login form back to it."""
    hops = await b.get(idgate.url(service, path))
    return await b.submit(login_page(hops), {"login": EMAIL, "password": password})


def cookie_header(b: Browser, url: str) -> str:
    return "; ".join(f"{k}={v}" for k, v in b.cookies_for(url).items())

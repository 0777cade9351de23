"""A small scripted browser for end-to-end tests: follows redirects one hop at a time, keeps cookies
per host, resolves ``*.localhost`` to loopback (or as the given resolver says), and fills in HTML forms."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from idgate.net import LocalResolver


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif tag == "input" and self.forms and a.get("name") and a.get("type") != "submit":
            self.forms[-1].fields.setdefault(a["name"], a.get("value", ""))


def forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


@dataclass
class Hop:
    url: str
    status: int
    location: str | None
    body: str


class Browser:
    """``async with Browser() as b: hops = await b.get(url)`` returns every hop of the redirect chain."""

    def __init__(
        self,
        max_hops: int = 10,
        ssl: ssl.SSLContext | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.max_hops = max_hops
        self.ssl = ssl
        self.resolver = resolver
        self.jar = aiohttp.CookieJar(unsafe=True)
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Browser:
        connector = aiohttp.TCPConnector(
            resolver=self.resolver or LocalResolver(),
            force_close=False,
            ssl=self.ssl if self.ssl is not None else True,
        )
        self.http = aiohttp.ClientSession(connector=connector, cookie_jar=self.jar)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.http is not None
        await self.http.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        follow: bool = True,
    ) -> list[Hop]:
        assert self.http is not None
        hops: list[Hop] = []
        for _ in range(self.max_hops):
            async with self.http.request(
                method, url, data=data, headers=headers, allow_redirects=False
            ) as resp:
                body = await resp.text(errors="replace")
                location = resp.headers.get("Location")
                hops.append(Hop(url, resp.status, location, body))
            if not follow or location is None or resp.status not in (301, 302, 303, 307, 308):
                return hops
            url = urljoin(url, location)
            if resp.status in (301, 302, 303):
                method, data = "GET", None
        raise AssertionError(f"more than {self.max_hops} redirects: {[h.url for h in hops]}")

    async def get(self, url: str, **kw: object) -> list[Hop]:
        return await self.request("GET", url, **kw)  # type: ignore[arg-type]

    async def submit(self, page: Hop, values: dict[str, str]) -> list[Hop]:
        """Fill the page's first POST form with ``values`` (keeping its hidden fields) and send it."""
        candidates = [f for f in forms(page.body) if f.method == "post"]
        assert candidates, f"no POST form on {page.url}"
        form = candidates[0]
        data = dict(form.fields)
        data.update(values)
        return await self.request("POST", urljoin(page.url, form.action or page.url), data=data)

    def cookies_for(self, url: str) -> dict[str, str]:
        return {k: m.value for k, m in self.jar.filter_cookies(URL(url)).items()}

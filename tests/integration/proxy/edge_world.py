"""The whole proxy over real sockets: the edge, the sign-in app behind it, the services they share
(session store, refresher, bearer verifier), the test OIDC provider and an echoing upstream.

``async with edge_world(tmp_path, **settings) as w:`` gives a running world; ``w.client()`` a raw HTTP/1.1
connection to the edge (see :mod:`tests.unit.edge.conftest`), ``w.cookie(session)`` a session cookie, and
:func:`sign_in` a browser's whole sign-in through the edge.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from tests.integration.proxy.oidc_double import OIDCDouble
from tests.unit.edge.conftest import (
    Client,
    Response,
    Upstream,
    _serve_app,
    alice,
    listening_socket,
    proxy_settings,
)

from idgate.clock import FrozenClock
from idgate.edge.routes import RouteTable
from idgate.edge.server import EdgeServer, start_edge
from idgate.proxy.services import ProxyServices, build_services
from idgate.proxy.web import build_signin_app
from idgate.runtime.listeners import unix_app
from idgate.sessions.base import Session
from idgate.settings import ProxySettings, Settings

HOST = "app.test:8080"


@dataclass
class EdgeWorld:
    """A running proxy and everything it talks to."""

    idp: OIDCDouble
    proxy: ProxySettings
    clock: FrozenClock
    upstream: Upstream
    edge: EdgeServer
    port: int
    services: ProxyServices

    async def client(self) -> Client:
        return await Client.open(self.port)

    async def cookie(self, session: Session | None = None) -> str:
        """A ``Cookie:`` header line carrying ``session`` (default: alice) as the store seals it."""
        value = await self.services.store.put(session or alice(), self.clock.now())
        return f"Cookie: {self.proxy.session_cookie}={value}\r\n"


@contextlib.asynccontextmanager
async def edge_world(
    tmp_path: Path, *, idp: OIDCDouble | None = None, upstream: str | None = None, **overrides: Any
) -> AsyncIterator[EdgeWorld]:
    """Start a world whose one deployment has ``overrides`` (``upstream``: another upstream URL)."""
    idp = idp or OIDCDouble(redirect_uris=(f"http://{HOST}/oauth/callback",))
    await idp.start()
    up = Upstream()
    runner = await _serve_app(up)
    p = proxy_settings(
        upstream or f"http://127.0.0.1:{up.port}",
        host=HOST,
        issuer_url=idp.issuer,
        client_id=idp.client_id,
        client_secret=idp.client_secret,
        **overrides,
    )
    clock = FrozenClock(idp.now)
    settings = Settings(proxies=(p,))
    try:
        async with aiohttp.ClientSession() as http:
            services = build_services([p], clock, http)
            signin = build_signin_app([p], clock, http, services)
            async with unix_app(signin, str(tmp_path / "signin.sock")) as sock_path:
                table = RouteTable.build(
                    settings, provider_socket=None, signin_socket=sock_path, services=services
                )
                sock = listening_socket()
                edge = await start_edge(settings, table, clock, sock=sock)
                try:
                    yield EdgeWorld(idp, p, clock, up, edge, sock.getsockname()[1], services[p.name])
                finally:
                    await edge.aclose(grace=0.5)
                    for svc in services.values():
                        await svc.close()
    finally:
        await runner.cleanup()
        await idp.close()


# -- a browser's sign-in, hop by hop over the edge ---------------------------------------------------
def set_cookies(r: Response) -> dict[str, str]:
    """The response's ``Set-Cookie`` headers by cookie name (the whole header value)."""
    return {v.split("=", 1)[0]: v for k, v in r.headers if k.lower() == "set-cookie"}


def cookie_pairs(r: Response) -> str:
    """``name=value; ...`` of the cookies ``r`` sets (deletions left out), for a ``Cookie`` header."""
    pairs = [v.split(";", 1)[0] for v in set_cookies(r).values() if "Max-Age=0" not in v]
    return "; ".join(pairs)


async def follow_provider(location: str) -> str:
    """The test provider signs the person in at once: where it sends the browser back to."""
    async with aiohttp.ClientSession() as http, http.get(location, allow_redirects=False) as r:
        assert r.status == 302, await r.text()
        return r.headers["Location"]


async def sign_in(w: EdgeWorld, c: Client, rd: str = "/") -> tuple[Response, Response]:
    """``/oauth/start`` -> provider -> ``/oauth/callback``: the start and callback responses."""
    start = await c.get(f"/oauth/start?rd={quote(rd, safe='')}")
    assert start.status == 302, start.body
    back = urlsplit(await follow_provider(start.header("Location") or ""))
    callback = await c.get(f"{back.path}?{back.query}", headers=f"Cookie: {cookie_pairs(start)}\r\n")
    return start, callback

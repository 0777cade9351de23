"""``idgate.tls.redirect_http``: a plain-HTTP listener that only sends browsers to https.

Every request to a host idgate serves (the issuer's, a deployment's ``ingress.host``) is answered
``308 Permanent Redirect`` to ``https://<that host as configured>/<path>?<query>``: the method and body
are kept, and the port is the one the config names for the host (``kkp.example.com`` or
``kkp.example.com:8443``), whatever port the request came to. Any other ``Host`` (or none) gets 404 and no
``Location``: the listener is never an open redirect. Nothing is proxied, no cookie is read or set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from aiohttp import web

from idgate.runtime.listeners import tcp_app
from idgate.settings import Settings, hostname, split_host

__all__ = ["https_location", "known_hosts", "serve_redirect"]

HOSTS: web.AppKey[Mapping[str, str]] = web.AppKey("hosts", Mapping)


def known_hosts(settings: Settings) -> dict[str, str]:
    """Routing key -> the host (and port) as the config writes it, for every host idgate serves."""
    hosts: dict[str, str] = {}
    if settings.provider is not None:
        authority = settings.provider.issuer.split("://", 1)[1].split("/", 1)[0]
        hosts[hostname(authority)] = authority.lower()
    for proxy in settings.proxies:
        hosts.setdefault(proxy.routing_host, proxy.host.strip().lower())
    return hosts


def https_location(host: str | None, target: str, hosts: Mapping[str, str]) -> str | None:
    """Where a plain-HTTP request for ``host`` and ``target`` (path and query, as sent) goes; ``None``
    for a host idgate does not serve."""
    if not host:
        return None
    authority = hosts.get(hostname(host))
    if authority is None:
        return None
    if not target.startswith("/"):  # absolute-form or "*": the origin's root
        target = "/"
    name, port = split_host(authority)
    return f"https://{name}{'' if port in (None, 443) else f':{port}'}{target}"


async def _redirect(request: web.Request) -> web.StreamResponse:
    host = request.headers.get("Host")
    location = https_location(host, request.raw_path, request.app[HOSTS])
    if location is None:
        return web.Response(status=404, text="idgate: unknown host\n", headers={"Cache-Control": "no-store"})
    return web.Response(status=308, headers={"Location": location})


def redirect_app(hosts: Mapping[str, str]) -> web.Application:
    app = web.Application()
    app[HOSTS] = dict(hosts)
    app.router.add_route("*", "/{tail:.*}", _redirect)
    return app


def serve_redirect(
    settings: Settings, address: str, *, reuse_port: bool
) -> contextlib.AbstractAsyncContextManager[None]:
    """Serve the redirects on ``address`` (``idgate.tls.redirect_http``) while the context lasts (with
    ``reuse_port`` the workers of ``--workers N`` share the port); ``ListenError`` when it is taken."""
    app = redirect_app(known_hosts(settings))
    return tcp_app(app, address, key="idgate.tls.redirect_http", reuse_port=reuse_port)

"""Probes and metrics on a port of their own (``idgate.metrics_listen``, default ``127.0.0.1:9180``, and
``idgate.health_listen``), for Kubernetes and Prometheus; never on the public listener.

Liveness goes through the public listener, where the edge answers it, so that a wedged edge fails it:

==========================  ==============================================================================
probe                        where
==========================  ==============================================================================
liveness, provider           ``GET {issuer path}/healthz`` on the public port, ``Host: <dex.ingress.host>``
liveness, proxy              ``GET /oauth/healthy`` on the public port, ``Host: <deployment ingress.host>``
readiness, both roles        ``GET /healthz/ready`` on that port: 200 ``ok`` when every dependency of
                             this process answers, else 503 and one line per failing check
(also) liveness              ``GET /healthz/live`` on that port: 200 while the event loop runs
metrics                      ``GET /metrics`` (Prometheus text format; :mod:`idgate.runtime.metrics`)
==========================  ==============================================================================

Readiness checks are what this process's role needs: ``storage`` when it runs the provider (one round trip:
reading a record that does not exist), ``sessions`` when the proxy keeps sessions in Redis (``PING``).
A check that takes longer than :data:`CHECK_TIMEOUT` fails. Messages never carry URLs (they may hold
passwords).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from idgate.errors import NotFound

if TYPE_CHECKING:
    from idgate.storage import Storage

__all__ = ["CHECK_TIMEOUT", "Check", "build_health_app", "redis_check", "serve_health", "storage_check"]

CHECK_TIMEOUT = 2.0
READINESS_PROBE_ID = "__idgate_readiness_probe__"

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when the dependency answers, raises otherwise."""

CHECKS: web.AppKey[Mapping[str, Check]] = web.AppKey("checks", Mapping)
MULTIPROCESS: web.AppKey[bool] = web.AppKey("multiprocess", bool)


def storage_check(storage: Storage) -> Check:
    """Ready when the storage answers a read (a missing record is an answer)."""
    from idgate.storage import Client

    async def check() -> None:
        try:
            await storage.get(Client, READINESS_PROBE_ID)
        except NotFound:
            return

    return check


def redis_check(url: str) -> tuple[Check, Callable[[], Awaitable[None]]]:
    """Ready when Redis at ``url`` answers ``PING``; also returns the function that closes the client."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT)

    async def check() -> None:
        await client.ping()

    async def close() -> None:
        await client.aclose()

    return check, close


async def _live(_: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _ready(request: web.Request) -> web.Response:
    checks = request.app[CHECKS]
    names = sorted(checks)
    results = await asyncio.gather(
        *(asyncio.wait_for(checks[n](), CHECK_TIMEOUT) for n in names), return_exceptions=True
    )
    failed = [
        f"{n}: {type(r).__name__}"
        for n, r in zip(names, results, strict=True)
        if isinstance(r, BaseException)
    ]
    if failed:
        return web.Response(status=503, text="not ready\n" + "".join(f"{line}\n" for line in failed))
    return web.Response(text="ok\n")


async def _metrics(request: web.Request) -> web.Response:
    from idgate.runtime.metrics import render_metrics

    body, content_type = render_metrics(request.app[MULTIPROCESS])  # every worker's, with --workers N
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


def build_health_app(checks: Mapping[str, Check], *, multiprocess: bool = False) -> web.Application:
    """The probe app: ``/healthz/live``, ``/healthz/ready`` (running ``checks``) and ``/metrics`` (of every
    worker when ``multiprocess``: prometheus-client's multiprocess mode, ``--workers N``)."""
    app = web.Application()
    app[CHECKS] = dict(checks)
    app[MULTIPROCESS] = multiprocess
    app.router.add_get("/healthz/live", _live)
    app.router.add_get("/healthz/ready", _ready)
    app.router.add_get("/metrics", _metrics)
    return app


def serve_health(
    checks: Mapping[str, Check], address: str, *, key: str, reuse_port: bool, multiprocess: bool = False
) -> contextlib.AbstractAsyncContextManager[None]:
    """Serve :func:`build_health_app` on ``address`` (the setting ``key``) while the context lasts
    (:func:`idgate.runtime.listeners.tcp_app`: ``ListenError`` when it cannot be bound)."""
    from idgate.runtime.listeners import tcp_app

    return tcp_app(
        build_health_app(checks, multiprocess=multiprocess), address, key=key, reuse_port=reuse_port
    )

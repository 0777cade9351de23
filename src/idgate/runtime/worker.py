"""One worker: the runtime that :mod:`.build` makes from the settings, served until SIGTERM or SIGINT.

::

    run_worker(settings)
      ├── the public listener        bound once the signal handlers are in place
      ├── build_runtime              storage, provider, proxies' services, route table (idgate.runtime.build)
      ├── provider web app           aiohttp, private unix socket
      ├── sign-in web app            aiohttp, private unix socket (/oauth/start, callback ...)
      ├── demo upstream              only in the embedded demo
      ├── the edge                   the public listener; routes by Host to all of the above
      ├── its access log             under idgate serve, batched on stderr by a thread of its own
      │                              (idgate.edge.access_log): closed after the edge, so SIGTERM
      │                              loses no line
      ├── TLS (idgate.tls)           the edge's certificates, re-read every reload_interval; and the
      │                              plain-HTTP listener that redirects to https (idgate.runtime.tls)
      └── health app                 on idgate.metrics_listen / health_listen: probes, /metrics

SIGTERM or SIGINT stops a worker cleanly: the listener closes, in-flight work ends, the sockets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import ssl
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from idgate.clock import Clock, SystemClock
from idgate.runtime.listeners import ListenError, bind, tcp_app, unix_app
from idgate.settings import Settings

if TYPE_CHECKING:
    from idgate.runtime.build import Runtime
    from idgate.runtime.metrics import Metrics

__all__ = ["run_worker"]

log = logging.getLogger("idgate")


async def run_worker(
    settings: Settings,
    *,
    reuse_port: bool = False,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
    shared_metrics: Metrics | None = None,
    log_format: str | None = None,
) -> None:
    """Run every role of ``settings`` until ``stop`` is set (or SIGTERM/SIGINT).

    The listener is bound only once the signal handlers are in place, so a SIGTERM that arrives as
    soon as the port accepts connections still ends the worker cleanly. ``shared_metrics``: with
    ``--workers N``, the multiprocess-mode metrics this worker adds the edge's counts to.
    ``log_format``: ``idgate serve`` configured the logs on stderr in this format (``text``, ``json``),
    and the edge writes its access lines there itself, in batches (:func:`.logs.batched_access_log`);
    ``None``: they are records of the ``idgate.access`` logger.
    """
    from idgate.edge.server import start_edge
    from idgate.runtime.build import build_runtime
    from idgate.runtime.logs import batched_access_log

    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    sock = bind(settings.listen, reuse_port=reuse_port)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(sock.close)
        runtime = await build_runtime(settings, stack, clock=clock, listener=sock)
        await _serve_apps(runtime, stack)
        if shared_metrics is not None:  # --workers N: share the edge's counts
            from idgate.runtime.metrics import flush_edge_stats

            _background(stack, flush_edge_stats(shared_metrics))
        tls = await _serve_tls(settings, stack, reuse_port=reuse_port)
        access = batched_access_log(log_format) if log_format is not None else None
        if access is not None:
            access.start()
            stack.push_async_callback(access.aclose)  # after the edge's last requests
        edge = await start_edge(settings, runtime.routes, clock, sock=sock, tls=tls, access=access)
        stack.push_async_callback(edge.aclose)
        await _serve_health(runtime, stack, reuse_port=reuse_port, multiprocess=shared_metrics is not None)
        log.info("idgate listening on %s (pid %d)", settings.listen, os.getpid())
        await stop.wait()
        log.info("idgate stopping (pid %d)", os.getpid())


async def _serve_apps(runtime: Runtime, stack: contextlib.AsyncExitStack) -> None:
    """The web apps behind the edge on their unix sockets, the revocation poller, the demo upstream."""
    if runtime.provider_app is not None and runtime.provider_socket is not None:
        await stack.enter_async_context(unix_app(runtime.provider_app, runtime.provider_socket))
    if runtime.revocations is not None:
        _background(stack, runtime.revocations.run(runtime.clock.now))
    if runtime.signin_app is not None and runtime.signin_socket is not None:
        await stack.enter_async_context(unix_app(runtime.signin_app, runtime.signin_socket))
    if runtime.settings.demo_upstream:
        from idgate.runtime.demo_upstream import upstream_app

        await stack.enter_async_context(
            tcp_app(upstream_app(), runtime.settings.demo_upstream, key="the demo upstream")
        )


async def _serve_tls(
    settings: Settings, stack: contextlib.AsyncExitStack, *, reuse_port: bool
) -> ssl.SSLContext | None:
    """``idgate.tls``: the listener's TLS context, its renewal poller and the redirecting plain listener."""
    if settings.tls is None:
        return None
    from idgate.runtime.redirect_http import serve_redirect
    from idgate.runtime.tls import Certificates

    certificates = Certificates(settings.tls)
    log.info("serving https with the certificate from %s: %s", settings.tls.cert, certificates.served)
    _background(stack, certificates.run())
    if settings.tls.redirect_http:
        await stack.enter_async_context(
            serve_redirect(settings, settings.tls.redirect_http, reuse_port=reuse_port)
        )
        log.info("redirecting http://%s to https", settings.tls.redirect_http)
    return certificates.context


async def _serve_health(
    runtime: Runtime, stack: contextlib.AsyncExitStack, *, reuse_port: bool, multiprocess: bool
) -> None:
    """Probes and /metrics on their own addresses, never on the public listener."""
    from idgate.runtime.health import serve_health

    settings = runtime.settings
    for address in dict.fromkeys(a for a in (settings.health_listen, settings.metrics_listen) if a):
        key = "idgate.health_listen" if address == settings.health_listen else "idgate.metrics_listen"
        serving = serve_health(
            runtime.checks, address, key=key, reuse_port=reuse_port, multiprocess=multiprocess
        )
        try:
            await stack.enter_async_context(serving)
        except ListenError as exc:
            if address != settings.metrics_listen or not settings.metrics_optional:
                raise
            log.warning("metrics not served: cannot listen on %s: %s", address, exc.reason)


def _background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` as a task until the worker stops (then it is cancelled)."""
    task = asyncio.create_task(work)
    stack.push_async_callback(_cancel, task)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

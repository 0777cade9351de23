"""Builds and runs the runtime that a :class:`~idgate.settings.Settings` describes.

::

    idgate serve
      └── serve(settings, workers=N)          binds; forks N workers sharing the port (SO_REUSEPORT)
            └── worker (one event loop, uvloop)
                  ├── storage                  opened once (provider; a proxy's revoked cookie sessions)
                  ├── provider web app          aiohttp, private unix socket
                  ├── sign-in web app           aiohttp, private unix socket (/oauth/start, callback ...)
                  ├── demo upstream             only in the embedded demo
                  ├── the edge                  the public listener; routes by Host to all of the above
                  └── health app                on idgate.metrics_listen / health_listen: probes, /metrics

``idgate serve --role provider|proxy [--deployment NAME]`` runs part of the file: :func:`select_role`
narrows the settings, and the worker starts only what is left (no storage without the provider).

SIGTERM or SIGINT stops a worker cleanly: the listener closes, in-flight work ends, the sockets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from aiohttp import web

from idgate.clock import Clock, SystemClock
from idgate.settings import Settings, split_host

if TYPE_CHECKING:
    from idgate.sessions.revocations import Revocations
    from idgate.storage import Storage

log = logging.getLogger("idgate")


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:4180"`` / ``"[::1]:4180"`` / ``":4180"`` -> (host, port)."""
    host, port = split_host(listen)
    if port is None:
        raise ValueError(f"listen address {listen!r} has no port")
    return (host.strip("[]") or "0.0.0.0"), port  # noqa: S104 - an explicit ":PORT" means all


def bind(listen: str, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket for ``listen``; with ``reuse_port`` several processes may bind it."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def loopback_overrides(settings: Settings, sock: socket.socket) -> dict[str, tuple[str, int]]:
    """Hosts this process serves over plain http, mapped to its own listener.

    The sign-in app fetches the provider's discovery document, keys and tokens from the issuer URL.
    When the issuer is served by this same process over plain http (a laptop, the demo), its host
    may not resolve (``kkp.localhost``); this lets the proxy reach it through our own listener.
    Behind TLS the issuer is reached as any client would reach it.
    """
    provider = settings.provider
    if provider is None or not provider.issuer.startswith("http://"):
        return {}
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104
        host = "127.0.0.1"
    return {provider.host: (host, int(port))}


@contextlib.asynccontextmanager
async def unix_app(app: web.Application, path: str) -> AsyncIterator[str]:
    """Serve ``app`` on a private unix socket at ``path`` for as long as the context lasts.

    Only the edge connects, and it has already bounded the request's head (:class:`EdgeLimits`): a header
    may be as long as the edge lets through, e.g. the ``Cookie`` of a session in eight chunks (aiohttp's
    own 8 KB field limit refused ``/oauth/userinfo`` and sign-out for it).
    """
    from idgate.edge.limits import EdgeLimits

    head = EdgeLimits().max_header_bytes
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, max_field_size=head, max_line_size=head
    )
    await runner.setup()
    site = web.UnixSite(runner, path, shutdown_timeout=5.0)
    await site.start()
    os.chmod(path, 0o600)
    try:
        yield path
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def tcp_app(app: web.Application, address: str) -> AsyncIterator[None]:
    host, port = parse_listen(address)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, shutdown_timeout=2.0).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def run_worker(  # noqa: PLR0915 - one linear start-up sequence
    settings: Settings,
    *,
    reuse_port: bool = False,
    clock: Clock | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run every role of ``settings`` until ``stop`` is set (or SIGTERM/SIGINT).

    The listener is bound only once the signal handlers are in place, so a SIGTERM that arrives as
    soon as the port accepts connections still ends the worker cleanly.
    """
    from idgate.edge.routes import LocalEndpoint, RouteTable
    from idgate.edge.server import start_edge
    from idgate.health import Check, redis_check, serve_health, storage_check
    from idgate.net import client_session
    from idgate.proxy.app import build_signin_app
    from idgate.proxy.services import ProxyServices

    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    sock = bind(settings.listen, reuse_port=reuse_port)
    rundir = tempfile.mkdtemp(prefix="idgate-")
    try:
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(sock.close)
            provider_socket: str | None = None
            local: LocalEndpoint | None = None  # the token endpoint, answered on the edge
            services: dict[str, ProxyServices] = {}
            signin_socket: str | None = None
            checks: dict[str, Check] = {}  # readiness (idgate.health)
            storage: Storage | None = None
            if settings.provider is not None:
                from idgate.provider.web.app import build_provider_app

                storage = await _open_storage(settings)
                stack.push_async_callback(storage.close)
                checks["storage"] = storage_check(storage)
                provider_app = build_provider_app(settings.provider, storage, clock)
                provider_socket = await stack.enter_async_context(
                    unix_app(provider_app, os.path.join(rundir, "provider.sock"))
                )
                from idgate.provider.token_lane import TokenLane
                from idgate.provider.web.routes import PROVIDER

                local = TokenLane(provider_app[PROVIDER], settings.provider.path)
            if settings.proxies:
                http = client_session(
                    loopback_overrides(settings, sock),
                    ca_file=settings.proxies[0].provider_ca_file,
                )
                stack.push_async_callback(http.close)
                if settings.sessions != "cookie":
                    checks["sessions"], close_redis = redis_check(settings.sessions)
                    stack.push_async_callback(close_redis)
                from idgate.proxy.services import build_services

                revocations = await _revocations(settings, storage, stack)
                poller = asyncio.create_task(revocations.run(clock.now))
                stack.push_async_callback(_cancel, poller)
                # session stores, refresh, signer
                services = build_services(settings.proxies, clock, http, revocations)
                for svc in services.values():
                    stack.push_async_callback(svc.close)
                signin = build_signin_app(settings.proxies, clock, http, services)
                signin_socket = await stack.enter_async_context(
                    unix_app(signin, os.path.join(rundir, "signin.sock"))
                )
            if settings.demo_upstream:
                from idgate.demo import upstream_app

                await stack.enter_async_context(tcp_app(upstream_app(), settings.demo_upstream))

            table = RouteTable.build(
                settings,
                provider_socket=provider_socket,
                signin_socket=signin_socket,
                services=services,
                local=local,
            )
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # --workers N: share the edge's counts
                from idgate.observability import flush_edge_stats

                flusher = asyncio.create_task(flush_edge_stats())
                stack.push_async_callback(_cancel, flusher)
            edge = await start_edge(settings, table, clock, sock=sock)
            stack.push_async_callback(edge.aclose)
            for address in dict.fromkeys(a for a in (settings.health_listen, settings.metrics_listen) if a):
                try:  # probes and /metrics, never on the public listener
                    await stack.enter_async_context(serve_health(checks, address, reuse_port=reuse_port))
                except OSError as exc:
                    if address != settings.metrics_listen or not settings.metrics_optional:
                        raise
                    log.warning("metrics not served: cannot listen on %s: %s", address, exc.strerror)
            log.info("idgate listening on %s (pid %d)", settings.listen, os.getpid())
            await stop.wait()
            log.info("idgate stopping (pid %d)", os.getpid())
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


async def _revocations(
    settings: Settings, storage: Storage | None, stack: contextlib.AsyncExitStack
) -> Revocations:
    """The process's list of revoked sessions, shared through ``idgate.storage`` when a deployment keeps
    its sessions in cookies (:mod:`idgate.sessions.revocations`).

    The provider's storage when this process runs the provider; else ``idgate.storage`` is opened for it
    (a proxy-only process). When it cannot be opened the proxy still serves, with a list of its own: a
    signed-out cookie is then refused by this process only, which the log says plainly.
    """
    from idgate.sessions.revocations import Revocations

    if all(p.session_store != "cookie" for p in settings.proxies):
        return Revocations()  # Redis sessions: sign-out deletes the session itself
    if storage is None:
        from idgate.errors import StorageError

        try:
            storage = await _open_storage(settings)
        except (StorageError, OSError) as exc:
            log.warning(
                "sign-out revokes cookie sessions in this process only: idgate.storage cannot be "
                "opened for the revocation list (%s); a copied cookie still works in other processes",
                exc,
            )
            return Revocations()
        stack.push_async_callback(storage.close)
    return Revocations(storage)


async def _open_storage(settings: Settings) -> Storage:
    """``idgate.storage``, migrated (a SQLite file in a short-lived child, so this process never loads
    SQLAlchemy and Alembic)."""
    from idgate.storage import open_storage

    if settings.storage.split("://", 1)[0].split("+", 1)[0].lower() == "sqlite":
        from idgate.storage.sql import sqlite_path
        from idgate.storage.sql.sqlite import migrate_apart

        await migrate_apart(sqlite_path(settings.storage))  # SQLAlchemy stays out of here
    return await open_storage(settings.storage, pool_size=settings.storage_pool_size)


ROLES = ("all", "provider", "proxy")


def select_role(settings: Settings, role: str = "all", deployment: str | None = None) -> Settings:
    """The part of ``settings`` one role runs (``idgate serve --role ... [--deployment NAME]``).

    ``provider`` keeps only the provider; ``proxy`` keeps the proxies, or only ``deployment``; ``all``
    keeps everything (``deployment`` then narrows the proxies). Raises ``ValueError`` with a message for
    the operator when the role has nothing to run or the deployment does not exist.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of: {', '.join(ROLES)})")
    if deployment is not None and role == "provider":
        raise ValueError("--deployment selects a proxy deployment; it does not go with --role provider")
    provider = settings.provider if role in ("all", "provider") else None
    proxies = settings.proxies if role in ("all", "proxy") else ()
    if deployment is not None:
        proxies = tuple(p for p in proxies if p.name == deployment)
        if not proxies:
            known = ", ".join(p.name for p in settings.proxies) or "none"
            raise ValueError(f"no iap deployment named {deployment!r} (deployments: {known})")
    if role == "provider" and provider is None:
        raise ValueError("--role provider: the file has no dex section with ingress.host")
    if role == "proxy" and not proxies:
        raise ValueError("--role proxy: the file has no iap deployments")
    return replace(settings, provider=provider, proxies=proxies)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _run(settings: Settings, *, reuse_port: bool) -> None:
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(run_worker(settings, reuse_port=reuse_port))


def serve(settings: Settings, *, workers: int = 1, log_format: str | None = None) -> None:
    """Run ``settings`` in the foreground: one process, or ``workers`` forked processes on one port.

    Metrics (:mod:`idgate.observability`) come from the log records; with several workers they are
    kept in prometheus-client's multiprocess mode, so that any worker answers a scrape for all.
    """
    from idgate import observability

    multiproc = observability.prepare_multiprocess() if workers > 1 else None
    try:
        configure_logging(log_format=log_format)
        observability.install_metrics(settings)
        announce(settings)
        if workers <= 1:
            _run(settings, reuse_port=False)
            return
        _fork_workers(settings, workers)
    finally:
        observability.cleanup_multiprocess(multiproc)


def _fork_workers(settings: Settings, workers: int) -> None:
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker binds its own socket into the port's SO_REUSEPORT group
            code = 0
            try:
                _run(settings, reuse_port=True)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    _supervise(children)


def _supervise(children: list[int]) -> None:
    """Forward SIGTERM/SIGINT to the workers and wait for all of them."""

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)
        status = status or os.waitstatus_to_exitcode(code)
    if status:
        sys.exit(status)


def announce(settings: Settings) -> None:
    """Tell the operator what runs where (no secrets)."""
    if settings.provider is not None:
        log.info("provider: issuer %s", settings.provider.issuer)
    for proxy in settings.proxies:
        log.info("proxy %s: host %s -> %s", proxy.name, proxy.host, proxy.upstream)


def configure_logging(env: Mapping[str, str] | None = None, log_format: str | None = None) -> None:
    """Logs on stderr, ``text`` or ``json`` (:func:`idgate.observability.configure_logging`)."""
    from idgate import observability

    observability.configure_logging(env, log_format)

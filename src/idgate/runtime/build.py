"""The parts one worker runs, built from its :class:`~idgate.settings.Settings`: the only place that wires
parts together.

::

    build_runtime(settings, stack, clock=, listener=) -> Runtime
      storage        idgate.storage, migrated (provider; a proxy's revoked cookie sessions)
      provider_app   the provider's web app over its core (signing keys, connectors: app[PROVIDER]);
                     its token endpoint is answered on the edge too (routes.local)
      http           the outbound HTTP client of the proxies (idgate.net)
      revocations    the process's list of revoked cookie sessions
      services       per deployment: session store, refresher, assertion signer, bearer verifier
      signin_app     the proxies' sign-in web app (/oauth/start, callback, sign_out, userinfo)
      routes         the edge's route table: hosts, compiled policies, upstream targets
      checks         readiness checks (idgate.runtime.health)

Everything that must be closed is pushed on ``stack`` as it is opened, in the order of the list; nothing
is served yet (:mod:`.worker` does that). A process that runs only the proxies opens no provider, and
opens storage only for the revocation list of cookie sessions.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from idgate.clock import Clock
from idgate.settings import Settings

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from idgate.edge.routes import RouteTable
    from idgate.proxy.services import ProxyServices
    from idgate.runtime.health import Check
    from idgate.sessions.revocations import Revocations
    from idgate.storage import Storage

__all__ = ["Runtime", "build_runtime", "loopback_overrides"]

log = logging.getLogger("idgate")


@dataclass(frozen=True)
class Runtime:
    """What one worker runs; built by :func:`build_runtime`, served by :func:`~.worker.run_worker`."""

    settings: Settings
    clock: Clock
    routes: RouteTable
    storage: Storage | None = None
    provider_app: web.Application | None = None  # served on provider_socket
    provider_socket: str | None = None
    http: aiohttp.ClientSession | None = None
    revocations: Revocations | None = None
    services: Mapping[str, ProxyServices] = field(default_factory=dict)
    signin_app: web.Application | None = None  # served on signin_socket
    signin_socket: str | None = None
    checks: Mapping[str, Check] = field(default_factory=dict)


async def build_runtime(
    settings: Settings, stack: contextlib.AsyncExitStack, *, clock: Clock, listener: socket.socket
) -> Runtime:
    """Open and build every part of ``settings`` (see the module docstring), closing them with ``stack``.

    ``listener`` is the bound public socket: the sign-in app reaches a provider served by this process
    over plain http through it (:func:`loopback_overrides`).
    """
    from idgate.edge.routes import LocalEndpoint, RouteTable
    from idgate.runtime.health import redis_check, storage_check

    rundir = tempfile.mkdtemp(prefix="idgate-")  # the web apps' unix sockets
    stack.callback(shutil.rmtree, rundir, ignore_errors=True)
    checks: dict[str, Check] = {}  # readiness (idgate.runtime.health)
    storage: Storage | None = None
    provider_app: web.Application | None = None
    provider_socket: str | None = None
    local: LocalEndpoint | None = None  # the token endpoint, answered on the edge
    if settings.provider is not None:
        from idgate.provider.token_lane import TokenLane
        from idgate.provider.web.app import build_provider_app
        from idgate.provider.web.routes import PROVIDER

        storage = await _open_storage(settings)
        stack.push_async_callback(storage.close)
        checks["storage"] = storage_check(storage)
        provider_app = build_provider_app(settings.provider, storage, clock)
        provider_socket = os.path.join(rundir, "provider.sock")
        local = TokenLane(provider_app[PROVIDER], settings.provider.path)
    http: aiohttp.ClientSession | None = None
    revocations: Revocations | None = None
    services: dict[str, ProxyServices] = {}
    signin_app: web.Application | None = None
    signin_socket: str | None = None
    if settings.proxies:
        from idgate.net import client_session
        from idgate.proxy.services import build_services
        from idgate.proxy.web import build_signin_app

        http = client_session(
            loopback_overrides(settings, listener), ca_file=settings.proxies[0].provider_ca_file
        )
        stack.push_async_callback(http.close)
        if settings.sessions != "cookie":
            checks["sessions"], close_redis = redis_check(settings.sessions)
            stack.push_async_callback(close_redis)
        revocations = await _revocations(settings, storage, stack)
        # session stores, refresh, signer
        services = build_services(settings.proxies, clock, http, revocations)
        for svc in services.values():
            stack.push_async_callback(svc.close)
        signin_app = build_signin_app(settings.proxies, clock, http, services)
        signin_socket = os.path.join(rundir, "signin.sock")
    routes = RouteTable.build(
        settings,
        provider_socket=provider_socket,
        signin_socket=signin_socket,
        services=services,
        local=local,
    )
    return Runtime(
        settings,
        clock,
        routes,
        storage=storage,
        provider_app=provider_app,
        provider_socket=provider_socket,
        http=http,
        revocations=revocations,
        services=services,
        signin_app=signin_app,
        signin_socket=signin_socket,
        checks=checks,
    )


def loopback_overrides(settings: Settings, sock: socket.socket) -> dict[str, tuple[str, int]]:
    """Hosts this process serves itself (over plain http, or over ``idgate.tls``), mapped to its own listener.

    The sign-in app fetches the provider's discovery document, keys and tokens from the issuer URL.
    When the issuer is served by this same process over plain http (a laptop, the demo), its host
    may not resolve (``kkp.localhost``); this lets the proxy reach it through our own listener.
    The same when this process serves the issuer over its own TLS (``idgate.tls``): the certificate is
    still verified for the issuer's host. Behind a TLS front the issuer is reached as any client would.
    """
    provider = settings.provider
    scheme = "https://" if settings.tls is not None else "http://"
    if provider is None or not provider.issuer.startswith(scheme):
        return {}
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104
        host = "127.0.0.1"
    return {provider.host: (host, int(port))}


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

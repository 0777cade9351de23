"""The sockets a worker serves on: the public listener, the web apps' private unix sockets, and plain TCP
apps (the demo upstream)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from idgate.settings import split_host

__all__ = ["ListenError", "bind", "parse_listen", "tcp_app", "unix_app"]


class ListenError(Exception):
    """An address idgate cannot listen on (taken by another program, not this machine's, no permission):
    ``address``, the setting that names it (``key``: ``idgate.listen`` ...), and the system's reason."""

    def __init__(self, address: str, key: str, reason: str) -> None:
        super().__init__(f"cannot listen on {address} ({key}): {reason}")
        self.address = address
        self.key = key
        self.reason = reason

    @classmethod
    def of(cls, address: str, key: str, exc: OSError) -> ListenError:
        return cls(address, key, (exc.strerror or str(exc)).lower())


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:4180"`` / ``"[::1]:4180"`` / ``":4180"`` -> (host, port)."""
    host, port = split_host(listen)
    if port is None:
        raise ValueError(f"listen address {listen!r} has no port")
    return (host.strip("[]") or "0.0.0.0"), port  # noqa: S104 - an explicit ":PORT" means all


def bind(listen: str, *, reuse_port: bool, key: str = "idgate.listen") -> socket.socket:
    """A listening TCP socket for ``listen``; with ``reuse_port`` several processes may bind it.

    :class:`ListenError` (naming ``listen`` and ``key``, the setting it comes from) when it cannot be bound.
    """
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ListenError.of(listen, key, exc) from None
    sock.setblocking(False)
    return sock


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
async def tcp_app(
    app: web.Application,
    address: str,
    *,
    key: str,
    reuse_port: bool = False,
    shutdown_timeout: float = 1.0,
) -> AsyncIterator[None]:
    """Serve ``app`` on ``address`` (``host:port``; ``:port`` is every address) while the context lasts;
    with ``reuse_port`` the workers of ``--workers N`` share the port. :class:`ListenError` naming
    ``address`` and ``key`` (the setting it comes from) when it cannot be bound."""
    host, port = split_host(address)
    assert port is not None  # validated: every listener setting is host:port
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, host.strip("[]") or None, port, shutdown_timeout=shutdown_timeout, reuse_port=reuse_port
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ListenError.of(address, key, exc) from None
    try:
        yield
    finally:
        await runner.cleanup()

"""Starting and stopping the edge: :func:`start_edge` and the :class:`EdgeServer` it returns."""

from __future__ import annotations

import asyncio
import socket
import ssl

from idgate.clock import Clock
from idgate.edge.access_log import AccessLog
from idgate.edge.connection import EdgeConnection, EdgeState
from idgate.edge.http import HeaderRules
from idgate.edge.limits import EdgeLimits
from idgate.edge.pool import Pool
from idgate.edge.routes import RouteTable
from idgate.settings import Settings

__all__ = ["EdgeConnection", "EdgeServer", "start_edge"]


class EdgeServer:
    """A running edge: the listening server, its connections and its upstream pool.

    Stop it with ``await edge.aclose()``: stop accepting, close idle keep-alive connections, let
    requests in flight finish for up to ``grace`` seconds, cut the rest, close pooled upstream
    connections.
    """

    def __init__(self, server: asyncio.Server, state: EdgeState) -> None:
        self.server = server
        self.state = state

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self.server.sockets)

    @property
    def pool(self) -> Pool:
        return self.state.pool

    def is_serving(self) -> bool:
        return self.server.is_serving()

    async def serve_forever(self) -> None:
        await self.server.serve_forever()

    async def aclose(self, grace: float | None = None) -> None:
        state = self.state
        state.closing = True
        self.server.close()
        for conn in list(state.connections):
            conn.close_if_idle()
        deadline = self.server.get_loop().time() + (state.limits.shutdown_grace if grace is None else grace)
        while state.connections and self.server.get_loop().time() < deadline:
            await asyncio.sleep(0.05)
            for conn in list(state.connections):
                conn.close_if_idle()
        for conn in list(state.connections):
            conn.abort()
        state.pool.close()
        await self.server.wait_closed()


async def start_edge(
    settings: Settings,
    table: RouteTable,
    clock: Clock,
    *,
    sock: socket.socket,
    limits: EdgeLimits | None = None,
    tls: ssl.SSLContext | None = None,
    access: AccessLog | None = None,
) -> EdgeServer:
    """Serve the edge on ``sock`` (already bound and listening, e.g. with ``SO_REUSEPORT``).

    ``settings`` gives the identity headers a client may not send (``idgate.identity_headers``); routes
    and policies are compiled into ``table``, which comes from :meth:`RouteTable.build`. Returns an
    :class:`EdgeServer`; ``await server.aclose()`` stops it.

    ``tls`` (``idgate.tls``, :mod:`idgate.runtime.tls`): serve HTTPS; the handshake must end within the
    header timeout, and the edge tells upstreams and its own cookies that the scheme is ``https``.

    ``access``: where the access lines go (:mod:`idgate.edge.access_log`); by default records of the
    ``idgate.access`` logger. A :class:`~idgate.edge.access_log.BatchedAccessLog` is started and closed
    by the caller, closed after the edge so that the lines of the last requests are written.
    """
    loop = asyncio.get_running_loop()
    rules = HeaderRules.of(settings.strip_headers, settings.allow_headers)
    limits = limits or EdgeLimits()
    scheme = b"http" if tls is None else b"https"
    state = EdgeState(table, clock, limits, rules=rules, scheme=scheme, access=access)
    if tls is None:
        server = await loop.create_server(lambda: EdgeConnection(state), sock=sock)
    else:
        server = await loop.create_server(
            lambda: EdgeConnection(state), sock=sock, ssl=tls, ssl_handshake_timeout=limits.header_timeout
        )
    return EdgeServer(server, state)

"""The edge: idgate's single public front door, an HTTP/1.1 server and reverse proxy.

Built on asyncio ``Protocol``s, the httptools parser and uvloop, with no framework object on the hot
path: request bytes go from parser callbacks straight to the other transport. The flow of one request::

    client ──TCP──> EdgeConnection (connection.py)
                      │ httptools callbacks fill a Request (http.py): limits 414/431, timeout 408,
                      │ strict framing (CL+TE, duplicate CL, TE other than chunked -> 400)
                      ▼
                    dispatch (dispatch.py) ── RouteTable.match(Host, path) (routes.py)
                      │
      ┌───────────────┼──────────────────┬─────────────────────────────────┐
      ▼               ▼                  ▼                                 ▼
   unknown host   /oauth/healthy     provider path,         a deployment host: /oauth/auth (AUTH)
   404 page       200 "OK"           /oauth/start...        and any other path (HOT)
   (pages.py)                        web apps (unix sock)              │
                                            │                          ▼
                                            │       Gate (gate.py): hand-split Cookie (cookies.py),
                                            │       Sealer.open (memoised), Policy.decide
                                            │                          ▼
                                            │       verdict (verdict.py): decision x lane -> answer
                                            │         ├ unauthenticated: 302 /oauth/start (401 JSON
                                            │         │   for API clients; 401 on /oauth/auth)
                                            │         ├ refused: 403 page with reason (responses.py)
                                            │         ├ /oauth/auth allowed: 202 + X-Auth-Request-*
                                            │         └ allowed: + X-Forwarded-User... and forward
                                            ▼                          ▼
                                        Forward (forward.py): head rebuilt (hop-by-hop, identity and
                                        X-Idgate-* stripped; X-Forwarded-For/-Proto/-Host set), body
                                        streamed with backpressure, response re-framed for the client,
                                        101 -> raw tunnel (WebSocket)
                                                                │
                                        Pool (pool.py): LIFO keep-alive connections per upstream,
                                        TCP_NODELAY, one retry of a stale one for idempotent requests
                                                                ▼
                                                        upstream / web app

Starting and stopping (server.py)::

    table = RouteTable.build(settings, provider_socket=..., signin_socket=...)
    edge = await start_edge(settings, table, clock, sock=sock, limits=EdgeLimits())
    ...
    await edge.aclose()   # stop accepting, finish in-flight requests, close pooled connections

Limits and timeouts live in :class:`~idgate.edge.limits.EdgeLimits`. Every request gets one access line
(:mod:`idgate.edge.access_log`): client address behind the trusted proxies, method, host, path without
query, status, duration, deployment, the session's email, the gate's decision and its reasons, request
id. Under ``idgate serve`` the edge formats it itself and a thread writes the lines to stderr in batches
(at least every second, and at shutdown; never blocking the loop: beyond a bound, lines are dropped and
counted); otherwise it is a record of the ``idgate.access`` logger. Either way only when that logger is
enabled for INFO. Requests and decisions are always counted in :mod:`idgate.edge.stats` (plain integers,
exported by its prometheus-client collector), so metrics do not need the lines.
"""

from idgate.edge.limits import EdgeLimits
from idgate.edge.routes import RouteTable
from idgate.edge.server import EdgeServer, start_edge

__all__ = ["EdgeLimits", "EdgeServer", "RouteTable", "start_edge"]

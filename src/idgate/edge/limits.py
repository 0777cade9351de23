"""The edge's limits and timeouts, with their defaults. Durations are seconds, sizes bytes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """How much the edge accepts and how long it waits.

    Header sizes must leave room for a chunked session cookie (up to 8 cookies of ~3.8 KB).
    """

    max_header_bytes: int = 64 * 1024  # request line excluded; over it -> 431
    max_headers: int = 128  # header fields; over it -> 431
    max_url_bytes: int = 8 * 1024  # request target; over it -> 414
    max_body_bytes: int | None = None  # None: unlimited (bodies are streamed); over it -> 413
    header_timeout: float = 10.0  # first byte of a request to the end of its head -> 408
    keepalive_timeout: float = 75.0  # idle client connection between requests -> closed
    upstream_connect_timeout: float = 5.0  # TCP/unix connect to an upstream -> 504
    upstream_timeout: float = 60.0  # request sent, no response byte for this long -> 504
    pool_max_idle: int = 64  # idle keep-alive connections kept per upstream
    pool_idle_timeout: float = 15.0  # an idle upstream connection older than this is closed
    shutdown_grace: float = 10.0  # aclose(): how long in-flight requests may finish

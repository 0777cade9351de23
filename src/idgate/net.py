"""Outbound HTTP: one way to make an :class:`aiohttp.ClientSession` for calls to providers and APIs.

* :class:`LocalResolver` resolves ``localhost`` and ``*.localhost`` to loopback (RFC 6761 §6.3; glibc does
  not resolve ``foo.localhost``), sends hostnames listed in ``overrides`` to a fixed address (when the
  issuer is served by this very process, e.g. the demo's ``http://localhost:4180/dex``), and asks the
  system resolver for everything else.
* :func:`client_session` builds a session with that resolver, bounded timeouts, and an optional CA file
  for providers with a private CA (``iap.customProviderCA``).
* :func:`read_limited` reads a response body whole, up to a byte limit: every outbound read goes through
  it (connectors, the proxy's provider client). ``resp.content.read(n)`` is not that: it returns what has
  arrived so far, so a body sent in several pieces (a 100 KB token response, a 70 KB GitHub page) was cut.
  Past the limit it raises :class:`BodyTooLarge`, which each caller translates into its own error.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from idgate.errors import UpstreamError

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "TOTAL_TIMEOUT",
    "BodyTooLarge",
    "LocalResolver",
    "client_session",
    "read_limited",
]

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
#: The most any provider or API answer may hold: an ID token with 10,000 groups is ~170 KB, a page of 100
#: GitHub teams ~120 KB. A hostile or broken upstream cannot make idgate hold more per request.
MAX_RESPONSE_BYTES = 1 << 20


def _is_localhost(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


class LocalResolver(AbstractResolver):
    """Resolves loopback names itself and ``overrides`` to fixed ``(ip, port)``; the rest as usual."""

    def __init__(self, overrides: Mapping[str, tuple[str, int]] | None = None) -> None:
        self._overrides = {k.lower().rstrip("."): v for k, v in (overrides or {}).items()}
        self._default: AbstractResolver | None = None

    @staticmethod
    def _result(hostname: str, ip: str, port: int) -> ResolveResult:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        return ResolveResult(
            hostname=hostname,
            host=ip,
            port=port,
            family=family,
            proto=0,
            flags=socket.AI_NUMERICHOST,
        )

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Addresses for ``host``; an override's port replaces ``port``."""
        name = host.lower().rstrip(".")
        if name in self._overrides:
            ip, fixed_port = self._overrides[name]
            return [self._result(host, ip, fixed_port)]
        if _is_localhost(name):
            if family == socket.AF_INET6:
                return [self._result(host, "::1", port)]
            return [self._result(host, "127.0.0.1", port)]
        if self._default is None:
            self._default = DefaultResolver()
        return await self._default.resolve(host, port, family)

    async def close(self) -> None:
        """Release the system resolver, if one was made."""
        if self._default is not None:
            await self._default.close()
            self._default = None


def client_session(
    overrides: Mapping[str, tuple[str, int]] | None = None, ca_file: str | None = None
) -> aiohttp.ClientSession:
    """A client session for outbound calls (must be made, used and closed inside the event loop)."""
    ssl_context: ssl.SSLContext | bool = True
    if ca_file is not None:
        ssl_context = ssl.create_default_context()
        ssl_context.load_verify_locations(cafile=ca_file)
    connector = aiohttp.TCPConnector(resolver=LocalResolver(overrides), ssl=ssl_context)
    timeout = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


class BodyTooLarge(UpstreamError):
    """An upstream's answer is larger than the caller's limit; names the URL (no query) and the limit."""

    def __init__(self, url: URL, limit: int, declared: int | None = None) -> None:
        where = str(url.origin()) + url.path  # no user info, query or fragment: they may hold secrets
        size = f"{declared} bytes, " if declared is not None else ""
        super().__init__(f"{where} answered {size}more than the limit of {limit} bytes")
        self.url, self.limit, self.declared = where, limit, declared


async def read_limited(resp: aiohttp.ClientResponse, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The whole body of ``resp``, however many pieces it arrives in; :class:`BodyTooLarge` past ``limit``.

    A ``Content-Length`` over the limit is refused before anything is read. Otherwise (chunked, or a
    length the body must still be read to) the pieces are gathered until the end of the body, stopping as
    soon as they pass the limit. A body cut short raises aiohttp's ``ClientPayloadError``; a body that
    never ends, the session's total timeout.
    """
    declared = resp.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(resp.url, limit, declared)
    body = bytearray()
    async for piece in resp.content.iter_any():
        body += piece
        if len(body) > limit:
            raise BodyTooLarge(resp.url, limit)
    return bytes(body)

"""Outbound HTTP: one way to make an :class:`aiohttp.ClientSession` for calls to providers and APIs.

* :class:`LocalResolver` resolves ``localhost`` and ``*.localhost`` to loopback (RFC 6761 §6.3; glibc does
  not resolve ``foo.localhost``), sends hostnames listed in ``overrides`` to a fixed address (when the
  issuer is served by this very process, e.g. the demo's ``http://localhost:4180/dex``), and asks the
  system resolver for everything else.
* :func:`client_session` builds a session with that resolver, bounded timeouts, and an optional CA file
  for providers with a private CA (``iap.customProviderCA``).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["CONNECT_TIMEOUT", "TOTAL_TIMEOUT", "LocalResolver", "client_session"]

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0


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

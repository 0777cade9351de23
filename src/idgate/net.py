"""Outbound HTTP: the one owner of aiohttp's client. Calls to providers and APIs (the connectors', the
proxy's to its provider) go through here, so that the core packages import no aiohttp.

* :data:`HTTPClient` is the client a caller is given (one per process, made by :func:`client_session`):
  pass it to :func:`get_json` / :func:`post_form`, never call it directly.
* :class:`LocalResolver` resolves ``localhost`` and ``*.localhost`` to loopback (RFC 6761 §6.3; glibc does
  not resolve ``foo.localhost``), sends hostnames listed in ``overrides`` to a fixed address (when the
  issuer is served by this very process, e.g. the demo's ``http://localhost:4180/dex``), and asks the
  system resolver for everything else.
* :func:`client_session` builds a client with that resolver, bounded timeouts, and an optional CA file
  for providers with a private CA (``iap.customProviderCA``).
* :func:`get_json` and :func:`post_form` make one request (``Accept: application/json``) and return its
  :class:`Reply`: the status, the headers and the whole body, read by :func:`read_limited`.
* :func:`read_limited` reads a response body whole, up to a byte limit. ``resp.content.read(n)`` is not
  that: it returns what has arrived so far, so a body sent in several pieces (a 100 KB token response, a
  70 KB GitHub page) was cut.

Failures are this module's exceptions, aiohttp's never leave it; each caller translates them into its own
error (a connector's ``UpstreamFailed``, the proxy's ``ProviderUnavailable``)::

    UpstreamError                 (idgate.errors)
    └── NetError                  an outbound request got no usable answer
        ├── BodyTooLarge          the answer is larger than the caller's limit
        └── TransportError        no whole answer: refused, reset, cut short, timed out
            └── TLSError          the TLS handshake failed (``untrusted``: the peer's certificate)

Each names the URL without its user info, query or fragment (they may hold secrets).
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

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
    "HTTPClient",
    "LocalResolver",
    "NetError",
    "Reply",
    "TLSError",
    "TransportError",
    "client_session",
    "get_json",
    "post_form",
    "read_limited",
]

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
#: The most any provider or API answer may hold: an ID token with 10,000 groups is ~170 KB, a page of 100
#: GitHub teams ~120 KB. A hostile or broken upstream cannot make idgate hold more per request.
MAX_RESPONSE_BYTES = 1 << 20
_TIMEOUT = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)

#: The outbound client a caller is given (aiohttp's session; made, used and closed inside the event loop).
#: Callers hand it to :func:`get_json` and :func:`post_form` and call nothing on it themselves.
HTTPClient: TypeAlias = aiohttp.ClientSession


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
) -> HTTPClient:
    """A client for outbound calls (must be made, used and closed inside the event loop)."""
    ssl_context: ssl.SSLContext | bool = True
    if ca_file is not None:
        ssl_context = ssl.create_default_context()
        ssl_context.load_verify_locations(cafile=ca_file)
    connector = aiohttp.TCPConnector(resolver=LocalResolver(overrides), ssl=ssl_context)
    timeout = aiohttp.ClientTimeout(total=TOTAL_TIMEOUT, connect=CONNECT_TIMEOUT)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


def _where(url: URL | str) -> str:
    """``url`` without user info, query or fragment: they may hold secrets."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        return str(parsed.origin()) + parsed.path
    except ValueError:  # not an absolute URL: what it is without a query, which is all we can say
        return str(url).partition("?")[0].partition("#")[0].rpartition("@")[2]


class NetError(UpstreamError):
    """An outbound request got no usable answer."""


class BodyTooLarge(NetError):
    """An upstream's answer is larger than the caller's limit; names the URL (no query) and the limit."""

    def __init__(self, url: URL, limit: int, declared: int | None = None) -> None:
        where = _where(url)
        size = f"{declared} bytes, " if declared is not None else ""
        super().__init__(f"{where} answered {size}more than the limit of {limit} bytes")
        self.url, self.limit, self.declared = where, limit, declared


class TransportError(NetError):
    """No whole answer: the peer refused or reset the connection, the body was cut short, the request
    timed out. ``cause`` names the failure's class (``ClientConnectorError``, ``TimeoutError`` ...)."""

    def __init__(self, url: URL | str, cause: BaseException, what: str = "") -> None:
        self.url, self.cause = _where(url), type(cause).__name__
        super().__init__(f"{self.url}: {what or 'unreachable'} ({self.cause})")


class TLSError(TransportError):
    """The TLS handshake failed; ``untrusted`` when it is because the peer's certificate is not trusted."""

    def __init__(self, url: URL | str, cause: BaseException, *, untrusted: bool) -> None:
        super().__init__(url, cause, "TLS certificate not trusted" if untrusted else "TLS failed")
        self.untrusted = untrusted


async def read_limited(resp: aiohttp.ClientResponse, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The whole body of ``resp``, however many pieces it arrives in; :class:`BodyTooLarge` past ``limit``.

    A ``Content-Length`` over the limit is refused before anything is read. Otherwise (chunked, or a
    length the body must still be read to) the pieces are gathered until the end of the body, stopping as
    soon as they pass the limit. A body cut short raises aiohttp's ``ClientPayloadError``; a body that
    never ends, the session's total timeout (:func:`get_json` and :func:`post_form` turn both into
    :class:`TransportError`).
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


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer, read whole: its status, its headers (looked up ignoring case) and its body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def get_json(
    http: HTTPClient,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    limit: int = MAX_RESPONSE_BYTES,
) -> Reply:
    """``GET url`` asking for JSON (``headers`` are added, and may replace ``Accept``); the whole answer,
    whatever its status. Raises :class:`NetError`. ``tls``: a context of the caller's instead of the
    system's trust store."""
    return await _request(http, "GET", url, headers=headers, form=None, tls=tls, limit=limit)


async def post_form(
    http: HTTPClient,
    url: str,
    form: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    limit: int = MAX_RESPONSE_BYTES,
) -> Reply:
    """``POST url`` with ``form`` (``application/x-www-form-urlencoded``) asking for JSON, as a token
    endpoint is called (RFC 6749 §3.2); the whole answer, whatever its status. Raises :class:`NetError`."""
    return await _request(http, "POST", url, headers=headers, form=form, tls=tls, limit=limit)


async def _request(
    http: HTTPClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None,
    form: Mapping[str, str] | None,
    tls: ssl.SSLContext | None,
    limit: int,
) -> Reply:
    """The one place a request is made and aiohttp's exceptions become this module's."""
    kwargs: dict[str, Any] = {
        "headers": {"Accept": "application/json", **(headers or {})},
        "timeout": _TIMEOUT,
    }
    if form is not None:
        kwargs["data"] = dict(form)
    if tls is not None:
        kwargs["ssl"] = tls
    try:
        async with http.request(method, url, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await read_limited(resp, limit))
    except aiohttp.ClientConnectorCertificateError as exc:
        raise TLSError(url, exc, untrusted=True) from exc
    except (ssl.SSLError, aiohttp.ClientSSLError) as exc:
        raise TLSError(url, exc, untrusted=False) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransportError(url, exc) from exc

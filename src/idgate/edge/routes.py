"""The routing table: which ``Host`` and path go where, built once from the settings.

====================================  =========================================================
request                               route
====================================  =========================================================
provider host, issuer path or below   ``PROVIDER``: the provider web app (unix socket), path as is
deployment host, ``/oauth/healthy``   ``HEALTHY``: 200 ``OK`` from the edge
deployment host, ``/oauth/auth``      ``AUTH``: 202 / 401 / 403 from the edge (nginx auth_request)
deployment host, ``/oauth/jwks.json``  ``JWKS``: the keys of ``X-Idgate-Assertion``, from the edge
deployment host, ``ping_path``        ``HEALTHY`` too
deployment host, other ``/oauth/...``  ``SIGNIN``: the sign-in web app, with ``X-Idgate-Deployment``
deployment host, anything else        ``HOT``: session -> policy -> the deployment's upstream
anything else                         ``NOT_FOUND``: 404 page
====================================  =========================================================

Hosts compare by :func:`idgate.settings.hostname` (lower-case, no port); paths compare raw (no query).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from idgate.edge.gate import Gate
from idgate.edge.pool import Target, parse_upstream, unix_target
from idgate.edge.trust import Trust
from idgate.proxy.services import ProxyServices
from idgate.settings import Settings, hostname


class Kind(enum.Enum):
    """What the edge does with a request."""

    NOT_FOUND = "not_found"
    PROVIDER = "provider"
    HEALTHY = "healthy"
    AUTH = "auth"
    SIGNIN = "signin"
    JWKS = "jwks"
    HOT = "hot"


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment as the edge serves it: its gate, its upstream, whom it trusts, its extra paths."""

    name: str
    gate: Gate
    upstream: Target
    trust: Trust = field(default_factory=lambda: Trust(()))
    ping: bytes = b"/oauth/healthy"
    jwks: bytes = b'{"keys":[]}'


@dataclass(frozen=True, slots=True)
class HostRoutes:
    """What one host serves: the provider under ``provider_path`` and/or one deployment."""

    provider_path: bytes | None = None  # b"" when the issuer is a bare origin
    deployment: Deployment | None = None


_HOST_CACHE_MAX = 1024


class LocalEndpoint(Protocol):
    """A provider endpoint the edge answers itself (:class:`idgate.provider.token_lane.TokenLane`)."""

    def takes(
        self, method: bytes, path: bytes, headers: Sequence[tuple[bytes, bytes]], length: int | None
    ) -> bool: ...

    async def answer(
        self, authorization: bytes, body: bytes, request_id: str
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]: ...


class RouteTable:
    """Host + path -> :class:`Kind` (and the deployment it concerns). Immutable after :meth:`build`."""

    def __init__(
        self,
        hosts: dict[str, HostRoutes],
        provider: Target | None,
        signin: Target | None,
        local: LocalEndpoint | None = None,
    ) -> None:
        self.hosts = hosts
        self.provider = provider
        self.signin = signin
        self.local = local  # provider requests answered on the edge (the token endpoint)
        self._by_raw: dict[bytes, HostRoutes | None] = {}

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        provider_socket: str | None,
        signin_socket: str | None,
        services: Mapping[str, ProxyServices] | None = None,
        local: LocalEndpoint | None = None,
    ) -> RouteTable:
        """Compile the routes (policies, sealers, upstream targets) of ``settings``.

        Raises ``ValueError`` for an unusable upstream URL and ``re.error`` for a bad skip regex.
        """
        memo = settings.session_memo_size
        hosts: dict[str, HostRoutes] = {}
        if settings.provider is not None:
            path = settings.provider.path.rstrip("/").encode()
            hosts[settings.provider.host] = HostRoutes(provider_path=path)
        for p in settings.proxies:
            svc = services.get(p.name) if services else None
            gate = Gate(p, memo, svc)
            upstream = parse_upstream(p.upstream)
            upstream = replace(
                upstream, timeout=p.upstream_timeout, verify=not p.ssl_upstream_insecure_skip_verify
            )
            jwks = gate.signer.jwks() if gate.signer is not None else {"keys": []}
            dep = Deployment(
                name=p.name,
                gate=gate,
                upstream=upstream,
                trust=Trust(p.trusted_proxy_ips, enabled=p.reverse_proxy),
                ping=p.ping_path.encode(),
                jwks=json.dumps(jwks, separators=(",", ":")).encode(),
            )
            current = hosts.get(p.routing_host, HostRoutes())
            if current.deployment is not None:
                raise ValueError(f"two deployments on host {p.routing_host!r}")
            hosts[p.routing_host] = HostRoutes(current.provider_path, dep)
        return cls(
            hosts,
            unix_target(provider_socket) if provider_socket else None,
            unix_target(signin_socket) if signin_socket else None,
            local if provider_socket else None,
        )

    def host(self, raw: bytes) -> HostRoutes | None:
        """The routes of a ``Host`` header value (cached by its raw bytes, bounded)."""
        try:
            return self._by_raw[raw]
        except KeyError:
            pass
        found = self.hosts.get(hostname(raw.decode("latin-1")))
        if len(self._by_raw) < _HOST_CACHE_MAX:
            self._by_raw[raw] = found
        return found

    def match(self, raw_host: bytes, path: bytes) -> tuple[Kind, Deployment | None]:
        """Route a request by its ``Host`` header and its path (without the query)."""
        routes = self.host(raw_host)
        if routes is None:
            return Kind.NOT_FOUND, None
        prefix = routes.provider_path
        if prefix is not None and (not prefix or path == prefix or path.startswith(prefix + b"/")):
            return Kind.PROVIDER, None
        dep = routes.deployment
        if dep is None:
            return Kind.NOT_FOUND, None
        if path.startswith(b"/oauth/"):
            if path == b"/oauth/healthy":
                return Kind.HEALTHY, dep
            if path == b"/oauth/auth":
                return Kind.AUTH, dep
            if path == b"/oauth/jwks.json":
                return Kind.JWKS, dep
            if path == dep.ping:
                return Kind.HEALTHY, dep
            return Kind.SIGNIN, dep
        if path == dep.ping:
            return Kind.HEALTHY, dep
        return Kind.HOT, dep

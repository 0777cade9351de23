"""Hosts and URLs written in a values file, checked for the shape each key takes.

A key that takes a host gets a host, not a URL: ``dex.ingress.host: "http://localhost:24180"`` would make
the issuer ``http://http://localhost:24180/dex``, and ``upstream_service: http://127.0.0.1:19090`` the
upstream ``http://http://127.0.0.1:19090:9090``. Each refusal says what to write instead:

- :data:`IngressHost` (``dex.ingress.host``, a deployment's ``ingress.host``): ``HOST`` or ``HOST:PORT``;
  no scheme (``dex.ingress.scheme`` has it; a deployment's comes with the request), no path, no userinfo;
- :data:`UpstreamHost` (``upstream_service``): a name or an IP address alone; the port is
  ``upstream_port``, the scheme ``upstream_scheme``;
- :data:`WebUrl` (``iap.oidc_issuer_url``, ``redirect_url``): an absolute ``http(s)://HOST[:PORT]/...``.

Pure string checks: nothing is resolved or connected to.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

__all__ = ["IngressHost", "UpstreamHost", "WebUrl"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PORT = re.compile(r":([0-9]*)$")
_FORBIDDEN = re.compile(r"[\s/?#@\\]")
_TWICE = re.compile(r"https?://https?:/", re.IGNORECASE)


def _without_scheme(value: str) -> tuple[str, str]:
    """(scheme, the rest without a trailing ``/``) when ``value`` starts with ``scheme://``, else
    ("", value)."""
    match = _SCHEME.match(value)
    if match is None:
        return "", value
    return match.group(1).lower(), value[match.end() :].rstrip("/")


def _bad_port(host: str) -> bool:
    if host.startswith("["):
        tail = host[host.find("]") + 1 :]
        if not tail:
            return False
        port = tail[1:] if tail.startswith(":") else "x"
    else:
        match = _PORT.search(host)
        if match is None:
            return False
        port = match.group(1)
    return not port.isdigit() or not 1 <= int(port) <= 65535


def _ingress_host(value: str) -> str:
    scheme, rest = _without_scheme(value)
    if scheme:
        raise PydanticCustomError(
            "host",
            "expected HOST or HOST:PORT without a scheme, got '{value}': write '{rest}' (the provider's "
            "scheme is dex.ingress.scheme; a deployment's is the request's)",
            {"value": value, "rest": rest},
        )
    if "/" in value:
        raise PydanticCustomError(
            "host",
            "expected HOST or HOST:PORT without a path, got '{value}' (the provider's path is "
            "dex.ingress.path)",
            {"value": value},
        )
    if _FORBIDDEN.search(value) or _bad_port(value):
        raise PydanticCustomError(
            "host",
            "expected HOST or HOST:PORT such as sso.example.com or localhost:4180 (port 1 to 65535), "
            "got '{value}'",
            {"value": value},
        )
    return value


def _upstream_host(value: str) -> str:
    scheme, rest = _without_scheme(value)
    host, port = rest, ""
    if rest.startswith("["):
        end = rest.find("]")
        if end > 0 and rest[end + 1 :].startswith(":"):
            host, port = rest[: end + 1], rest[end + 2 :]
    elif rest.count(":") == 1:
        host, _, port = rest.partition(":")
    if scheme or port:
        parts = [f"upstream_service: {host}"]
        if port:
            parts.append(f"upstream_port: {port}")
        if scheme == "https":
            parts.append("upstream_scheme: https")
        raise PydanticCustomError(
            "upstream_service",
            "expected a host name or IP address alone, such as grafana.monitoring.svc.cluster.local, got "
            "'{value}': write {fix} (the port is upstream_port, TLS is upstream_scheme: https)",
            {"value": value, "fix": ", ".join(parts)},
        )
    if rest.count(":") > 1 and not rest.startswith("["):
        raise PydanticCustomError(
            "upstream_service", "write an IPv6 address in brackets: [{value}]", {"value": value}
        )
    if not value or _FORBIDDEN.search(value):
        raise PydanticCustomError(
            "upstream_service",
            "expected a host name or IP address, such as grafana.monitoring.svc.cluster.local, got '{value}'",
            {"value": value},
        )
    return value


def _absolute(value: str) -> bool:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "@" not in parts.netloc


def _web_url(value: str) -> str:
    if not _absolute(value):
        raise PydanticCustomError(
            "url",
            "expected an absolute URL such as https://sso.example.com/dex (http:// or https://, then the "
            "host), got '{value}'",
            {"value": value},
        )
    if _TWICE.match(value):
        raise PydanticCustomError("url", "has its scheme twice: '{value}'", {"value": value})
    return value


IngressHost = Annotated[str, AfterValidator(_ingress_host)]
UpstreamHost = Annotated[str, AfterValidator(_upstream_host)]
WebUrl = Annotated[str, AfterValidator(_web_url)]

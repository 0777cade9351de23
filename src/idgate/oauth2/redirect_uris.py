"""Redirect URIs: which may be registered, and is a ``redirect_uri`` registered for a client?

**Registering** (:func:`registration_problem`: ``idgate client add`` and ``idgate check`` for
``dex.clients[].RedirectURIs`` and ``postLogoutRedirectURIs``). A redirect URI is where the browser
carries an authorization code, so it must name one place an application listens on:

- refused: a relative URI, or one without a host where a host belongs (RFC 6749 §3.1.2), and a host
  written without a scheme (``grafana.localhost:24180/cb`` would read as the scheme ``grafana.localhost``);
  a fragment
  (§3.1.2: the code would land in a URL a script reads); whitespace, control characters or a backslash
  (browsers read it as ``/``); userinfo (``https://good.example@evil.example/``); a bad port or a
  host that is not an ASCII name or IP literal; and the schemes a browser runs or reads locally instead of
  sending a request (``javascript:``, ``data:``, ``vbscript:``, ``file:``, ``blob:``, ``about:``);
- accepted: ``https://``; ``http://`` to a loopback host (``127.0.0.0/8``, ``[::1]``, ``localhost`` and
  ``*.localhost``, which RFC 6761 §6.3 keeps on the machine: RFC 8252 §7.3 and §8.3); a private-use
  scheme named after a reversed domain (``com.example.app:/cb``, RFC 8252 §7.1);
- a warning: ``http://`` to any other host (the code crosses the network in the clear, RFC 6749
  §3.1.2.1), and a private-use scheme without a dot (any app may claim ``myapp:``, RFC 8252 §8.4).

**Matching** (:func:`redirect_uri_registered`): exact string match (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3),
with the one exception RFC 8252 §7.3 makes for native apps: a *public* client that registered a loopback
IP redirect (``http://127.0.0.1/...`` or ``http://[::1]/...``, no port) may use any port, because the
operating system hands a native app an ephemeral one. Nothing else is relaxed: the scheme, host, path and
query must be exactly as registered, ``localhost`` (a name that may resolve elsewhere, §8.3) gets no
exception, and a confidential client's URIs are matched exactly.

**Answering** (:func:`add_query`): the answer goes back in the redirect URI's query, kept as registered
(§3.1.2), or in its fragment for the implicit flow (§4.2.2).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]"})

#: Schemes whose URL a browser runs or reads locally: a code "redirected" there reaches no application.
LOCAL_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about", "filesystem"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_USERINFO = "has userinfo (user@ before the host): the browser goes to the host after the @"


@dataclass(frozen=True, slots=True)
class RedirectProblem:
    """Why a redirect URI should not be registered: an ``error`` refuses it, a ``warning`` lets it be."""

    severity: Literal["error", "warning"]
    message: str


def _error(message: str) -> RedirectProblem:
    return RedirectProblem("error", message)


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` (RFC 6761 §6.3), ``127.0.0.0/8`` or ``::1`` (brackets optional)."""
    name = host.lower().strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def _host_problem(netloc: str, hostname: str) -> RedirectProblem | None:
    if "@" in netloc:
        return _error(_USERINFO)
    if not hostname:
        return _error("has no host")
    if netloc.startswith("["):
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            return _error("has a host that is not an IPv6 address between [ ]")
    elif not _HOST.fullmatch(hostname):
        return _error("has a host that is not a DNS name or IP address in ASCII (write IDNs as xn--)")
    elif _numeric(hostname.rstrip(".").rpartition(".")[2]) and not _dotted_quad(hostname):
        return _error("has a host that browsers read as an IPv4 address written another way; write a.b.c.d")
    return None


def _numeric(label: str) -> bool:
    """A label that makes a URL host an IPv4 address (WHATWG URL: digits, or hexadecimal ``0x...``)."""
    return label.isdigit() or label.lower().startswith("0x")


def _dotted_quad(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _web_problem(scheme: str, rest: str) -> RedirectProblem | None:
    if not rest.startswith("//"):
        return _error(f"has no host: expected {scheme}://HOST/PATH")
    try:
        parts = urlsplit(f"{scheme}:{rest}")
        port = parts.port
    except ValueError:  # a port that is not a number from 0 to 65535, unbalanced [ ]
        return _error("has a host or port that cannot be read (expected HOST or HOST:PORT, 1 to 65535)")
    problem = _host_problem(parts.netloc, parts.hostname or "")
    if problem is not None:
        return problem
    if port == 0:
        return _error("has port 0")
    if scheme == "http" and not is_loopback_host(parts.hostname or ""):
        return RedirectProblem(
            "warning",
            "is plain http to a host that is not loopback: the authorization code crosses the network "
            "unencrypted; use https (plain http is for 127.0.0.1, [::1], localhost and *.localhost)",
        )
    return None


def registration_problem(uri: str) -> RedirectProblem | None:
    """What is wrong with registering ``uri`` as a redirect URI (see the module docstring), or ``None``."""
    if not uri:
        return _error("is empty")
    if _UNSAFE.search(uri):
        return _error("holds whitespace, a control character or a backslash")
    scheme, colon, rest = uri.partition(":")
    if _looks_like_host(uri.split("/", 1)[0]):
        return _error(f"has no scheme: write https://{uri} (or http:// for a loopback host)")
    if not colon or not _SCHEME.fullmatch(scheme):
        return _error("is not an absolute URI (scheme://host/path): a relative URI cannot be a redirect URI")
    if "#" in rest:
        return _error("has a fragment (#...): RFC 6749 §3.1.2 forbids one")
    scheme = scheme.lower()
    if scheme in LOCAL_SCHEMES:
        return _error(
            f"uses the {scheme}: scheme, which a browser runs or reads locally: no application gets the code"
        )
    if scheme in ("http", "https"):
        return _web_problem(scheme, rest)
    if rest.startswith("//") and "@" in rest[2:].split("/", 1)[0]:
        return _error(_USERINFO)
    if "." not in scheme:
        return RedirectProblem(
            "warning",
            f"uses the scheme {scheme}:, which any app may claim; a native app's private-use scheme is a "
            "domain its publisher controls, reversed (com.example.app:/callback, RFC 8252 §7.1)",
        )
    return None


def _looks_like_host(text: str) -> bool:
    """``grafana.localhost:24180``, ``localhost``, ``10.0.0.1``: a host (and port) written where a URI
    belongs (a private-use scheme, ``com.example.app:/cb``, has no port after its colon)."""
    name, colon, port = text.rpartition(":")
    if not colon:
        name = text
    elif not port.isdigit():
        return False
    return bool(_HOST.fullmatch(name)) and ("." in name or name.lower() == "localhost")


def _without_loopback_port(uri: str) -> str | None:
    """``uri`` with its port removed when it is an ``http`` loopback IP URI with a port; else ``None``."""
    if not uri.startswith("http://"):
        return None
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if port is None or parts.username is not None or parts.password is not None or parts.fragment:
        return None
    host = parts.netloc.rsplit(":", 1)[0]
    if host not in LOOPBACK_HOSTS or parts.netloc != f"{host}:{port}":  # no "080", no empty port
        return None
    return parts._replace(netloc=host).geturl()


def redirect_uri_registered(uri: str, registered: tuple[str, ...], *, public: bool) -> bool:
    """Whether ``uri`` may receive the client's codes (see the module docstring)."""
    if uri in registered:
        return True
    if not public:
        return False
    portless = _without_loopback_port(uri)
    return portless is not None and portless in registered


def application_home(registered: tuple[str, ...]) -> str | None:
    """The origin of the first registered http(s) redirect URI: a safe "back to the application" address
    for a page (never a request's own, unverified ``redirect_uri``); ``None`` when there is none."""
    for uri in registered:
        try:
            parts = urlsplit(uri)
            ok = parts.scheme in ("https", "http") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a malformed port
            continue
        if ok and parts.username is None and parts.password is None:
            return f"{parts.scheme}://{parts.netloc}/"
    return None


def add_query(uri: str, params: dict[str, str], *, fragment: bool = False) -> str:
    """``uri`` with ``params`` added to its query (RFC 6749 §3.1.2), or as its fragment (§4.2.2)."""
    parts = urlsplit(uri)
    extra = urlencode(params)
    if fragment:
        return urlunsplit(parts._replace(fragment=extra))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))

"""Is a ``redirect_uri`` registered for a client? Exact string match (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3),
with the one exception RFC 8252 §7.3 makes for native apps: a *public* client that registered a loopback
IP redirect (``http://127.0.0.1/...`` or ``http://[::1]/...``, no port) may use any port, because the
operating system hands a native app an ephemeral one. Nothing else is relaxed: the scheme, host, path and
query must be exactly as registered, ``localhost`` (a name that may resolve elsewhere, §8.3) gets no
exception, and a confidential client's URIs are matched exactly.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]"})


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

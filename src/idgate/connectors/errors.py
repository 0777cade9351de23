"""What a connector raises, and what each means to the provider.

::

    UpstreamError                     (idgate.errors)
    └── ConnectorError            a login or refresh through a connector failed; ``reason`` is safe to show
        ├── LoginRefused          known upstream, but may not log in here (403 page that says why)
        ├── CallbackInvalid       the upstream's callback is unusable: no code, an ``error=`` (400)
        └── UpstreamFailed        the upstream (LDAP, GitHub, an OIDC provider) is unreachable, refuses
            │                     our credentials or answers something unusable (502); fails closed
            └── UpstreamUnavailable   it could not be reached at all (refused, reset, timed out): nothing
                                      was decided about the person, so nothing is counted (503)

A ``reason`` never holds a password, code, token or secret: it is meant for the person at the browser and
for the log. Foreign exceptions (aiohttp, ldap3, joserfc) are translated into these at each connector's
boundary.
"""

from __future__ import annotations

from idgate.errors import UpstreamError

__all__ = ["CallbackInvalid", "ConnectorError", "LoginRefused", "UpstreamFailed", "UpstreamUnavailable"]


class ConnectorError(UpstreamError):
    """A connector step failed. ``status`` is the HTTP status the provider should answer with."""

    status = 502

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoginRefused(ConnectorError):
    """The upstream knows the person, but the connector's rules refuse them (not in an org, wrong domain)."""

    status = 403


class CallbackInvalid(ConnectorError):
    """The callback from the upstream cannot finish a login (``error=access_denied``, no ``code`` ...)."""

    status = 400


class UpstreamFailed(ConnectorError):
    """The upstream could not be used: unreachable, TLS mismatch, refused credentials, malformed answer."""

    status = 502


class UpstreamUnavailable(UpstreamFailed):
    """The upstream could not be reached (connection refused or reset, a timeout): try again later."""

    status = 503

"""OAuth 2.0 errors, one class per error code (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1).

::

    OAuthError                      code + HTTP status + description (+ where to send it back)
    ├── InvalidRequest              invalid_request            400
    ├── InvalidClient               invalid_client             401  (WWW-Authenticate: Basic)
    ├── InvalidGrant                invalid_grant              400
    ├── UnauthorizedClient          unauthorized_client        400
    ├── UnsupportedGrantType        unsupported_grant_type     400
    ├── UnsupportedResponseType     unsupported_response_type  400
    ├── InvalidScope                invalid_scope              400
    ├── AccessDenied                access_denied              403
    ├── InvalidToken                invalid_token              401  (RFC 6750; WWW-Authenticate: Bearer)
    ├── UnsupportedTokenType        unsupported_token_type     400  (RFC 7009 §2.2.1)
    ├── AuthorizationPending        authorization_pending      400  (RFC 8628 §3.5)
    ├── SlowDown                    slow_down                  400  (RFC 8628 §3.5)
    ├── ExpiredToken                expired_token              400  (RFC 8628 §3.5)
    ├── LoginRequired               login_required             400  (OIDC Core §3.1.2.6, prompt=none)
    ├── ConsentRequired             consent_required           400  (OIDC Core §3.1.2.6, prompt=none)
    ├── ServerError                 server_error               500
    └── TemporarilyUnavailable      temporarily_unavailable    503

An error raised before the client and its ``redirect_uri`` are verified has no :attr:`OAuthError.redirect`
and is shown as a page; once they are verified the core attaches one with :meth:`OAuthError.redirecting`
and the renderer sends the browser back to the client. A page may still link back to the application
(:attr:`OAuthError.back`) when the core knows a safe address for it: the origin of a registered URI.
The ``description`` is shown to people and sent to clients: it never contains a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self


@dataclass(frozen=True, slots=True)
class RedirectTarget:
    """A verified place to send an authorization error: the registered ``redirect_uri`` and ``state``;
    ``fragment`` for the implicit flow (RFC 6749 §4.2.2.1), else the query."""

    redirect_uri: str
    state: str
    fragment: bool = False


@dataclass(frozen=True, slots=True)
class BackLink:
    """Where an error page may send a person back to: an application's ``name`` and a registered ``url``."""

    name: str
    url: str


class OAuthError(Exception):
    """An error with its wire meaning: :attr:`code` and :attr:`status`."""

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, description: str = "", *, redirect: RedirectTarget | None = None) -> None:
        super().__init__(description or self.code)
        self.description = description
        self.redirect = redirect
        self.back: BackLink | None = None

    def linking_back(self, name: str, url: str) -> Self:
        """This error, shown as a page with a link back to ``url`` (a registered address of ``name``)."""
        self.back = BackLink(name, url)
        return self

    def redirecting(self, redirect_uri: str, state: str, *, fragment: bool = False) -> Self:
        """This error, to be sent back to a verified ``redirect_uri`` with ``state``."""
        self.redirect = RedirectTarget(redirect_uri, state, fragment)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    code = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    code = "unsupported_response_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class AccessDenied(OAuthError):
    code = "access_denied"
    status = 403


class InvalidToken(OAuthError):
    code = "invalid_token"
    status = 401


class UnsupportedTokenType(OAuthError):
    code = "unsupported_token_type"


class AuthorizationPending(OAuthError):
    code = "authorization_pending"


class SlowDown(OAuthError):
    code = "slow_down"


class ExpiredToken(OAuthError):
    code = "expired_token"


class LoginRequired(OAuthError):
    code = "login_required"


class ConsentRequired(OAuthError):
    code = "consent_required"


class ServerError(OAuthError):
    code = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    code = "temporarily_unavailable"
    status = 503

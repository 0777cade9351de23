"""What can go wrong in a sign-in, and the one mapping from each failure to its page. Pure.

The sign-in steps (:mod:`idgate.proxy.signin`) and the web layer (:mod:`idgate.proxy.web`) raise the typed
errors below, or let those of the parts they call (:mod:`idgate.oidc.client`, the session store) through;
:func:`page_for` is the only place that decides the status and the words, and the web layer's
:func:`~idgate.proxy.web.page_of` adds aiohttp's own refusals (the rows marked *web*)::

    failure                                        status  page                             cookies cleared
    UnknownDeployment, no route (web)              404     Not found
    a method the app does not serve (web)          405     Method not allowed
    another refusal of aiohttp's (4xx) (web)       its own
    LoginStateInvalid (no/altered/expired state)   403     Login session expired
    ProviderRefused (callback?error=...)           403     Sign-in refused (names the code)  sign-in state
    MissingCode                                    400     Sign-in failed
    TokenRequestRefused, IdTokenInvalid            403     Sign-in failed                    sign-in state
    ProviderUnavailable (discovery, JWKS, token,   502     Identity provider unavailable     sign-in state
      UserInfo unreachable or answering 5xx)
    another OIDCError                              502     Sign-in failed
    SessionStoreUnavailable (Redis down)           503     Session store unavailable         sign-in state
    SignedOutHereOnly (sign-out, Redis down)       503     Signed out in this browser only   all of them
    anything else                                  500     Something went wrong (logged with its traceback)

Every page is HTML in idgate's design and carries the edge's request id, like the edge's own error pages
(:mod:`idgate.edge.pages`), which answer HTML whatever ``Accept`` says; so do these. A ``reason`` goes to
the log only; it never holds a code, token or cookie.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from idgate.errors import IdgateError
from idgate.oidc.client import IdTokenInvalid, OIDCError, ProviderUnavailable, TokenRequestRefused
from idgate.sessions.base import SessionStoreUnavailable
from idgate.sessions.sealing import SessionTooLarge

__all__ = [
    "Clears",
    "LoginStateInvalid",
    "MissingCode",
    "Page",
    "ProviderRefused",
    "SignInFailure",
    "SignedOutHereOnly",
    "UnknownDeployment",
    "not_found",
    "page_for",
]


class SignInFailure(IdgateError):
    """A failure the sign-in handlers raise; ``reason`` is for the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownDeployment(SignInFailure):
    """The edge named no deployment this app serves."""


class LoginStateInvalid(SignInFailure):
    """The callback's sign-in state cookie is missing, altered or expired, or ``state`` differs."""


class MissingCode(SignInFailure):
    """The callback carried neither a code nor an error."""


class ProviderRefused(SignInFailure):
    """The provider answered the callback with ``error`` (and maybe ``error_description``)."""

    def __init__(self, reason: str, code: str, description: str) -> None:
        super().__init__(reason)
        self.code = code
        self.description = description


class SignedOutHereOnly(SignInFailure):
    """Sign-out could not reach the session store: the browser's cookies are cleared all the same, and
    the page says that the session was not ended on the server. ``onward``: where sign-out goes next."""

    def __init__(self, reason: str, onward: str) -> None:
        super().__init__(reason)
        self.onward = onward


class Clears(enum.Enum):
    """The cookies an error page deletes."""

    NOTHING = "nothing"
    LOGIN = "login"  # the sign-in state (CSRF) cookie: it was spent, or starting again is the way on
    ALL = "all"  # the session cookie, every chunk of it, and the sign-in state cookie


@dataclass(frozen=True, slots=True)
class Page:
    """An error page: its status and words, the links it offers, the cookies it clears, and what is
    logged (``reason``; ``unexpected``: with the traceback, at error level)."""

    status: int
    title: str
    message: str
    reason: str
    retry: bool = False  # "Sign in again" (/oauth/start)
    clears: Clears = Clears.NOTHING
    error_code: str | None = None
    onward: str | None = None  # "Continue" to this address
    unexpected: bool = False


_EXPIRED = "Your login session expired or was started in another browser. Please start again."
_STORE = (
    "The session store could not be reached, so you could not be signed in. Nothing was kept; "
    "please try again in a moment."
)
_SIGNED_OUT = (
    "Your session cookies were removed from this browser, but the session store could not be reached, "
    "so the session was not ended on the server. A copy of the cookie taken before now keeps working "
    "until the session expires."
)


_TOO_LARGE = (
    "You are a member of more groups than this service's sign-in cookie can hold, so you cannot be "
    "signed in here. There is nothing to fix on your side: please tell the operator, who can keep "
    "sessions in Redis instead."
)


def not_found(reason: str) -> Page:
    """The page of an address nothing answers (an unknown deployment, no route)."""
    return Page(404, "Not found", "There is nothing here.", reason or "no route")


def page_for(exc: BaseException) -> Page:
    """The page for ``exc`` (the module's table, but for the rows the web layer adds)."""
    if isinstance(exc, UnknownDeployment):
        return not_found(str(exc))
    if isinstance(exc, LoginStateInvalid):
        return Page(403, "Login session expired", _EXPIRED, exc.reason, retry=True)
    if isinstance(exc, ProviderRefused):
        said = f"The identity provider did not sign you in: {exc.description}" if exc.description else ""
        return Page(
            403,
            "Sign-in refused",
            said or "The identity provider did not sign you in.",
            exc.reason,
            retry=True,
            clears=Clears.LOGIN,
            error_code=exc.code,
        )
    if isinstance(exc, MissingCode):
        return Page(400, "Sign-in failed", "The callback carried no code.", exc.reason, retry=True)
    if isinstance(exc, SignedOutHereOnly):
        title = "Signed out in this browser only"
        return Page(503, title, _SIGNED_OUT, exc.reason, clears=Clears.ALL, onward=exc.onward)
    if isinstance(exc, SessionTooLarge):
        return Page(
            431,
            "Too many groups for a cookie",
            _TOO_LARGE,
            f"{exc}; keep this deployment's sessions in Redis: idgate.sessions: redis://HOST:6379/0 "
            "(or the deployment's session_store_type: redis)",
            clears=Clears.LOGIN,
        )
    if isinstance(exc, SessionStoreUnavailable):
        return Page(503, "Session store unavailable", _STORE, str(exc), retry=True, clears=Clears.LOGIN)
    if isinstance(exc, ProviderUnavailable):
        message = "The identity provider could not be reached. Please try again later."
        return Page(
            502, "Identity provider unavailable", message, exc.reason, retry=True, clears=Clears.LOGIN
        )
    if isinstance(exc, TokenRequestRefused | IdTokenInvalid):
        message = "The sign-in could not be verified."
        return Page(403, "Sign-in failed", message, exc.reason, retry=True, clears=Clears.LOGIN)
    if isinstance(exc, OIDCError):
        return Page(502, "Sign-in failed", "The sign-in could not be completed.", exc.reason, retry=True)
    return Page(
        500,
        "Something went wrong",
        "The sign-in service failed unexpectedly. Please try again later.",
        type(exc).__name__,
        unexpected=True,
    )

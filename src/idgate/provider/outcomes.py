"""What the provider's core hands back to the routes (besides errors): each is rendered in one way."""

from __future__ import annotations

from dataclasses import dataclass

from idgate.connectors.base import Connector, PasswordConnector
from idgate.oauth2.errors import BackLink


@dataclass(frozen=True, slots=True)
class ChooseConnector:
    """Several connectors: the person picks one (links go to ``/auth/{id}/login?req=ID``)."""

    request_id: str
    connectors: tuple[Connector, ...]


@dataclass(frozen=True, slots=True)
class LoginStarted:
    """A pending login was stored; the browser goes to ``/auth/{connector}/login?req=ID``."""

    request_id: str
    connector_id: str


@dataclass(frozen=True, slots=True)
class LoginForm:
    """What the password login page shows."""

    request_id: str
    connector: PasswordConnector
    client_name: str
    username: str = ""
    error: str = ""
    status: int = 200  # 429 while the account or the address is locked


@dataclass(frozen=True, slots=True)
class SecondFactorForm:
    """The password was right and the user has a second factor: the page that asks for the code."""

    request_id: str
    connector: PasswordConnector
    client_name: str
    error: str = ""
    status: int = 200  # 429 while the account or the address is locked


@dataclass(frozen=True, slots=True)
class GoUpstream:
    """A callback connector: the browser goes to the upstream, which returns to ``{path}/callback``."""

    location: str


@dataclass(frozen=True, slots=True)
class LoginDone:
    """The person is authenticated: back to the client (code, or tokens in the fragment).

    ``session_cookie`` is set when this login started a new SSO session (the route sets the cookie).
    """

    redirect_to: str
    session_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalNeeded:
    """The person is authenticated and must grant the request (:mod:`.approval`): the browser goes to
    ``{issuer}/approval?req=ID``. ``session_cookie`` as in :class:`LoginDone`."""

    request_id: str
    session_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class ApprovalForm:
    """The approval page: ``client_name`` would like to do each of ``asks`` (in words)."""

    request_id: str
    client_name: str
    asks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceApproved:
    """A device login finished: the page tells the person to go back to their device."""

    client_name: str
    session_cookie: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """RP-initiated logout finished: redirect (when a registered URI was given) or a page, which links
    ``back`` to the application when the client is known (its registered origin, never the request's)."""

    redirect_to: str | None
    clear_cookie: bool = True
    back: BackLink | None = None


@dataclass(frozen=True, slots=True)
class ConfirmLogout:
    """Logout without a valid ``id_token_hint``: the person confirms with a POST carrying ``csrf``, or
    cancels: back to the application (``back``, when the client is known), else a page that says they
    are still logged in."""

    csrf: str
    post_logout_redirect_uri: str
    client_id: str
    state: str
    back: BackLink | None = None

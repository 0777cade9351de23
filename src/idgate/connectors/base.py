"""Connectors: how the provider learns who a person is, as small capability protocols (Dex's
``connector.go``), and how a connector type is declared.

A connector implements the protocols it can honour, nothing more; the provider asks with
``isinstance(conn, PasswordConnector)`` (they are runtime-checkable) before it shows a password form, and
``isinstance(conn, RefreshConnector)`` before it issues a refresh token.

Each connector module declares its type once, as ``TYPE = ConnectorType(name=..., config=..., open=...)``
(:class:`ConnectorType`); :mod:`.registry` lists the modules and builds connectors from their declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from idgate.clock import Clock
    from idgate.errors import Loc
    from idgate.net import HTTPClient
    from idgate.settings import ConnectorSettings
    from idgate.storage.base import Storage

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Identity:
    """A person as a connector reports them. ``connector_data`` is opaque to everyone but the connector
    (it is what a refresh needs: an upstream refresh token, an LDAP DN ...)."""

    user_id: str
    username: str
    email: str
    email_verified: bool
    preferred_username: str = ""
    groups: tuple[str, ...] = ()
    connector_data: str = ""


@runtime_checkable
class Connector(Protocol):
    """What every connector has: an id (part of ``sub``) and a name to show."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


@runtime_checkable
class PasswordConnector(Connector, Protocol):
    """Checks a username and password that the provider's own login form collected."""

    @property
    def prompt(self) -> str:
        """The label of the username field (``Email Address``, ``Username`` ...)."""
        ...

    async def login(self, scopes: tuple[str, ...], username: str, password: str) -> Identity | None:
        """The identity, or ``None`` for wrong credentials (never say which part was wrong)."""
        ...


@runtime_checkable
class AccountConnector(PasswordConnector, Protocol):
    """Can tell which account a typed name stands for without checking a password (an LDAP directory
    whose ``userSearch.username`` lists several attributes: the ``uid`` and the ``mail`` of one entry are
    two names of one account). The provider counts failed logins per account, so every name of an
    account shares one limit (:mod:`idgate.provider.throttle`)."""

    async def account(self, username: str) -> str | None:
        """A stable key of the account ``username`` names (an LDAP entry's DN); ``None`` when none does.
        Raises :class:`~idgate.connectors.errors.ConnectorError` when it cannot tell."""
        ...


@runtime_checkable
class CallbackConnector(Connector, Protocol):
    """Sends the browser to an upstream (GitHub, OIDC ...) and finishes on its callback."""

    def login_url(self, scopes: tuple[str, ...], callback_url: str, state: str) -> str:
        """Where to send the browser; ``state`` must come back on the callback."""
        ...

    async def handle_callback(
        self, scopes: tuple[str, ...], callback_url: str, query: Mapping[str, str]
    ) -> Identity:
        """The identity from the upstream's answer; raises on a refusal."""
        ...


@runtime_checkable
class RefreshConnector(Connector, Protocol):
    """Can confirm, at refresh time, that the person still exists upstream (and update their claims)."""

    async def refresh(self, scopes: tuple[str, ...], identity: Identity) -> Identity:
        """The up-to-date identity; raises when the person lost access."""
        ...


_REFRESHES: dict[type, bool] = {}


def refreshes(connector: object) -> bool:
    """``isinstance(connector, RefreshConnector)``, remembered per class: checking a runtime protocol
    walks all of its members (tens of µs), and it is asked on every refresh grant."""
    kind = type(connector)
    known = _REFRESHES.get(kind)
    if known is None:
        known = _REFRESHES[kind] = isinstance(connector, RefreshConnector)
    return known


@runtime_checkable
class PreparedConnector(Connector, Protocol):
    """Has work to do before its first login (OIDC discovery, a dummy hash ...). The provider calls
    :meth:`prepare` at start-up; it may be called again (it is cheap once done) and raises
    :class:`~idgate.connectors.errors.ConnectorError` when the upstream cannot be reached."""

    async def prepare(self) -> None: ...


@runtime_checkable
class ClosableConnector(Connector, Protocol):
    """Holds resources of its own (an LDAP connection pool) to release when the provider stops."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ConnectorServices:
    """What the provider shares with the connectors it builds: its storage (``local``'s passwords), its
    clock, and the outbound HTTP client (:mod:`idgate.net`)."""

    storage: Storage
    clock: Clock
    http: HTTPClient


@dataclass(frozen=True, slots=True)
class ConnectorType(Generic[C]):
    """A connector type, as its module declares it (``TYPE``) for :mod:`.registry`.

    ``name`` is the ``dex.connectors[].type`` it answers to. ``config`` is the typed model of its
    ``config`` block (a :class:`~idgate.connectors.config.ConnectorConfig` with Dex's key spellings), or
    ``None`` for a type that takes no keys (``local``: a server whose connectors are all local never loads
    pydantic). ``open(entry, config, services, at)`` builds one connector from its entry (id, name), its
    parsed ``config`` block (``None`` without a model), the shared services and the YAML location of the
    block; it opens no sockets, and raises :class:`~idgate.errors.ConfigError` for a file the block names
    that cannot be used (``rootCA``, ``serviceAccountFilePath``).
    """

    name: str
    config: type[C] | None
    open: Callable[[ConnectorSettings, C, ConnectorServices, Loc], Connector]

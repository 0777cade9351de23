"""The connector registry: ``dex.connectors[].type`` -> the type its module declares.

Each connector module declares its type once, as ``TYPE``
(:class:`~idgate.connectors.base.ConnectorType`: the name, the typed model of its ``config`` block, and
how to open one). The registry lists the modules, once, in :data:`_DECLARATIONS`; nothing registers
itself on import, and a module is imported only when its type is asked for (:func:`connector_type`): a
server whose connectors are all ``local`` never loads the others, nor pydantic.

- :func:`connector_problems` checks a ``config`` block at config-load time (so ``idgate check`` reports
  ``dex.connectors[0].config.orgz: unknown key 'orgz'; did you mean 'orgs'?``);
- :func:`build_connectors` opens the configured connectors from
  :class:`~idgate.settings.ConnectorSettings` and the shared services. Files a config names (``rootCA``,
  ``serviceAccountFilePath``) are read by the openers; an unreadable one is a
  :class:`~idgate.errors.ConfigError` at start-up.

``local`` is the provider's password database: it has no ``config`` keys and is built like the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from idgate.connectors.base import (
    ClosableConnector,
    Connector,
    ConnectorServices,
    ConnectorType,
    PreparedConnector,
)
from idgate.errors import ConfigError, Loc, Problem

if TYPE_CHECKING:
    from idgate.clock import Clock
    from idgate.net import HTTPClient
    from idgate.settings import ConnectorSettings
    from idgate.storage.base import Storage

__all__ = [
    "TYPES",
    "build_connectors",
    "close_connectors",
    "connector_problems",
    "connector_type",
    "prepare_connectors",
]


def _local() -> ConnectorType[Any]:
    from idgate.connectors.local import TYPE

    return TYPE


def _github() -> ConnectorType[Any]:
    from idgate.connectors.github import TYPE

    return TYPE


def _ldap() -> ConnectorType[Any]:
    from idgate.connectors.ldap import TYPE

    return TYPE


def _oidc() -> ConnectorType[Any]:
    from idgate.connectors.oidc import TYPE

    return TYPE


def _gitlab() -> ConnectorType[Any]:
    from idgate.connectors.gitlab import TYPE

    return TYPE


def _google() -> ConnectorType[Any]:
    from idgate.connectors.google import TYPE

    return TYPE


#: ``type`` -> where its declaration is (its module, imported on first use), in the order ``idgate check``
#: lists the types.
_DECLARATIONS: dict[str, Callable[[], ConnectorType[Any]]] = {
    "local": _local,
    "github": _github,
    "ldap": _ldap,
    "oidc": _oidc,
    "gitlab": _gitlab,
    "google": _google,
}
#: Every connector type (``dex.connectors[].type``).
TYPES = tuple(_DECLARATIONS)


def connector_type(name: str) -> ConnectorType[Any] | None:
    """The declaration of connector type ``name``; ``None`` when there is no such type."""
    declaration = _DECLARATIONS.get(name)
    return declaration() if declaration is not None else None


def _model(kind: ConnectorType[Any]) -> type[Any]:
    """The model of ``kind``'s ``config`` block (a type without keys refuses every key)."""
    from idgate.connectors.config import NoKeys

    return kind.config if kind.config is not None else NoKeys


def connector_problems(type: str, config: Any, at: Loc) -> list[Problem]:
    """Every problem of one ``config`` block of a connector of ``type``, located under ``at``."""
    from idgate.connectors.config import validate_config

    kind = connector_type(type)
    if kind is None:
        return []  # the type itself is reported by the dex model
    return validate_config(_model(kind), config, at)[1]


def _config(kind: ConnectorType[Any], entry: ConnectorSettings, at: Loc) -> Any:
    """The entry's ``config`` block through its type's model (:class:`ConfigError` with every problem);
    ``None`` for a type without keys, whose block is parsed only to refuse the keys it holds, in the
    model's words (the load-time check's)."""
    from idgate.connectors.config import parse_config

    if kind.config is None:
        if entry.config:
            parse_config(_model(kind), entry.config, at)
        return None
    return parse_config(kind.config, entry.config, at)


def build_connectors(
    entries: Sequence[ConnectorSettings], *, storage: Storage, clock: Clock, http: HTTPClient
) -> dict[str, Connector]:
    """The connectors of ``dex.connectors``, by id, in file order.

    Raises :class:`ConfigError` (every problem at once) for an unknown type, a repeated id, a config block
    its model refuses, or a file it names that cannot be used. Opens no sockets: OIDC discovery waits for
    :func:`prepare_connectors`.
    """
    services = ConnectorServices(storage, clock, http)
    connectors: dict[str, Connector] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        at: Loc = ("dex", "connectors", i, "config")
        kind = connector_type(entry.type)
        if kind is None:
            problems.append(Problem(f"dex.connectors[{i}].type", f"unknown connector type '{entry.type}'"))
            continue
        if entry.id in seen:
            problems.append(
                Problem(f"dex.connectors[{i}].id", f"'{entry.id}' is the id of another connector")
            )
            continue
        seen.add(entry.id)
        try:
            connectors[entry.id] = kind.open(entry, _config(kind, entry, at), services, at)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return connectors


async def prepare_connectors(connectors: Iterable[Connector]) -> dict[str, str]:
    """Run :meth:`prepare` on every connector that has one; ``{id: reason}`` for those that failed.

    A failure does not stop the others (an unreachable upstream must not take the provider down); a
    connector that failed prepares again on its next use.
    """
    from idgate.connectors.errors import ConnectorError

    failed: dict[str, str] = {}
    for connector in connectors:
        if isinstance(connector, PreparedConnector):
            try:
                await connector.prepare()
            except ConnectorError as exc:
                failed[connector.id] = exc.reason
    return failed


async def close_connectors(connectors: Iterable[Connector]) -> None:
    """Release what connectors hold (LDAP connection pools)."""
    for connector in connectors:
        if isinstance(connector, ClosableConnector):
            await connector.close()

"""The connector registry: ``dex.connectors[].type`` -> the connector class and its typed config model.

Explicit lists (:func:`connector_classes`, :func:`config_models`, the openers); nothing registers itself
on import, and a connector's module is imported only when a connector of its type is configured. Each
connector type has:

- a config model (:func:`config_models`) with Dex's keys, checked at config-load time by
  :func:`connector_problems` (so ``idgate check`` reports ``dex.connectors[0].config.orgz: unknown key
  'orgz'; did you mean 'orgs'?``);
- an opener that builds it from :class:`~idgate.settings.ConnectorSettings` and the shared services
  (:func:`build_connectors`). Files a config names (``rootCA``, ``serviceAccountFilePath``) are read here;
  an unreadable one is a :class:`~idgate.errors.ConfigError` at start-up.

``local`` is the provider's password database: it has no ``config`` keys and is built like the others.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from idgate.clock import Clock
from idgate.connectors.base import ClosableConnector, Connector, PreparedConnector
from idgate.errors import ConfigError, Loc, Problem, format_path
from idgate.settings import ConnectorSettings
from idgate.storage.base import Storage

if TYPE_CHECKING:
    from idgate.connectors.config import ConnectorConfig

__all__ = [
    "build_connectors",
    "close_connectors",
    "config_models",
    "connector_classes",
    "connector_problems",
    "prepare_connectors",
]


def connector_classes() -> dict[str, type]:
    """``type`` -> the connector class (each module is imported on first use: a server whose connectors
    are all ``local`` never loads the others, nor pydantic)."""
    from idgate.connectors.github import GitHubConnector
    from idgate.connectors.gitlab import GitLabConnector
    from idgate.connectors.google import GoogleConnector
    from idgate.connectors.ldap import LDAPConnector
    from idgate.connectors.local import LocalConnector
    from idgate.connectors.oidc import OIDCConnector

    return {
        "local": LocalConnector,
        "ldap": LDAPConnector,
        "github": GitHubConnector,
        "gitlab": GitLabConnector,
        "google": GoogleConnector,
        "oidc": OIDCConnector,
    }


def config_models() -> dict[str, type[ConnectorConfig]]:
    """``type`` -> the typed model of its ``config`` block (pydantic; loaded when a config is checked)."""
    from idgate.connectors.config import LocalConfig
    from idgate.connectors.github import GitHubConfig
    from idgate.connectors.gitlab import GitLabConfig
    from idgate.connectors.google import GoogleConfig
    from idgate.connectors.ldap import LDAPConfig
    from idgate.connectors.oidc import OIDCConfig

    return {
        "local": LocalConfig,
        "ldap": LDAPConfig,
        "github": GitHubConfig,
        "gitlab": GitLabConfig,
        "google": GoogleConfig,
        "oidc": OIDCConfig,
    }


def connector_problems(type: str, config: Any, at: Loc) -> list[Problem]:
    """Every problem of one ``config`` block of a connector of ``type``, located under ``at``."""
    from idgate.connectors.config import validate_config

    model = config_models().get(type)
    if model is None:
        return []  # the type itself is reported by the dex model
    return validate_config(model, config, at)[1]


class _Services:
    def __init__(self, storage: Storage, clock: Clock, http: aiohttp.ClientSession) -> None:
        self.storage, self.clock, self.http = storage, clock, http


def _problem(at: Loc, key: str, message: str) -> ConfigError:
    return ConfigError([Problem(format_path((*at, key)), message)])


def _config(entry: ConnectorSettings, at: Loc) -> Any:
    """The entry's ``config`` block through its typed model (:class:`ConfigError` with every problem)."""
    from idgate.connectors.config import parse_config

    return parse_config(config_models()[entry.type], entry.config, at)


def _open_local(entry: ConnectorSettings, s: _Services, at: Loc) -> Connector:
    from idgate.connectors.local import LocalConnector

    if entry.config:  # local takes no keys: refused with the model's words (the load-time check's)
        _config(entry, at)
    return LocalConnector(s.storage, id=entry.id, name=entry.name or "Email")


def _open_ldap(entry: ConnectorSettings, s: _Services, at: Loc) -> Connector:
    from idgate.connectors.ldap import ClientCertError, LDAPConnector

    config = _config(entry, at)
    try:
        return LDAPConnector(entry.id, entry.name, config)
    except ClientCertError as exc:
        raise _problem(at, "clientCert", str(exc)) from exc
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _problem(at, "rootCA", f"cannot use the CA certificate: {exc}") from exc


def _open_github(entry: ConnectorSettings, s: _Services, at: Loc) -> Connector:
    from idgate.connectors.github import GitHubConnector

    config = _config(entry, at)
    try:
        return GitHubConnector(entry.id, entry.name, config, s.http)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _problem(at, "rootCA", f"cannot use the CA certificate: {exc}") from exc


def _open_gitlab(entry: ConnectorSettings, s: _Services, at: Loc) -> Connector:
    from idgate.connectors.gitlab import GitLabConnector

    return GitLabConnector(entry.id, entry.name, _config(entry, at), s.http)


def _open_google(entry: ConnectorSettings, s: _Services, at: Loc) -> Connector:
    from idgate.connectors.google import GoogleConnector, ServiceAccount

    config = _config(entry, at)
    account = None
    if config.serviceAccountFilePath:
        try:
            account = ServiceAccount.from_file(config.serviceAccountFilePath)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = (
                exc.strerror
                if isinstance(exc, OSError) and exc.strerror
                else "not a service-account key file"
            )
            raise _problem(
                at, "serviceAccountFilePath", f"cannot use {config.serviceAccountFilePath}: {reason}"
            ) from exc
    return GoogleConnector(entry.id, entry.name, config, s.http, s.clock, service_account=account)


def _open_oidc(entry: ConnectorSettings, s: _Services, at: Loc) -> Connector:
    from idgate.connectors.http import CAError
    from idgate.connectors.oidc import OIDCConnector

    config = _config(entry, at)
    try:
        return OIDCConnector(entry.id, entry.name, config, s.http, s.clock)
    except CAError as exc:
        raise ConfigError([Problem(format_path((*at, "rootCAs", exc.index)), exc.message)]) from exc


_OPENERS: dict[str, Callable[[ConnectorSettings, _Services, Loc], Connector]] = {
    "local": _open_local,
    "ldap": _open_ldap,
    "github": _open_github,
    "gitlab": _open_gitlab,
    "google": _open_google,
    "oidc": _open_oidc,
}


def build_connectors(
    entries: Sequence[ConnectorSettings], *, storage: Storage, clock: Clock, http: aiohttp.ClientSession
) -> dict[str, Connector]:
    """The connectors of ``dex.connectors``, by id, in file order.

    Raises :class:`ConfigError` (every problem at once) for an unknown type, a repeated id, a config block
    its model refuses, or a file it names that cannot be used. Opens no sockets: OIDC discovery waits for
    :func:`prepare_connectors`.
    """
    services = _Services(storage, clock, http)
    connectors: dict[str, Connector] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        at: Loc = ("dex", "connectors", i)
        if entry.type not in _OPENERS:
            problems.append(Problem(f"dex.connectors[{i}].type", f"unknown connector type '{entry.type}'"))
            continue
        if entry.id in seen:
            problems.append(
                Problem(f"dex.connectors[{i}].id", f"'{entry.id}' is the id of another connector")
            )
            continue
        seen.add(entry.id)
        try:
            connectors[entry.id] = _OPENERS[entry.type](entry, services, (*at, "config"))
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

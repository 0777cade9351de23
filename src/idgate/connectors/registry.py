"""The connector registry: ``dex.connectors[].type`` -> the connector class and its typed config model.

One explicit dict, :data:`CONNECTOR_TYPES`; nothing registers itself on import. Each connector type has:

- a config model (:data:`CONFIG_MODELS`) with Dex's keys, checked at config-load time by
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
from typing import Any

import aiohttp

from idgate.clock import Clock
from idgate.config.model import Loc, format_path
from idgate.connectors.base import ClosableConnector, Connector, PreparedConnector
from idgate.connectors.config import ConnectorConfig, parse_config, validate_config
from idgate.connectors.github import GitHubConfig, GitHubConnector
from idgate.connectors.gitlab import GitLabConfig, GitLabConnector
from idgate.connectors.google import GoogleConfig, GoogleConnector, ServiceAccount
from idgate.connectors.http import CAError
from idgate.connectors.ldap import ClientCertError, LDAPConfig, LDAPConnector
from idgate.connectors.local import LocalConnector
from idgate.connectors.oidc import OIDCConfig, OIDCConnector
from idgate.errors import ConfigError, Problem
from idgate.settings import ConnectorSettings
from idgate.storage.base import Storage

__all__ = [
    "CONFIG_MODELS",
    "CONNECTOR_TYPES",
    "build_connectors",
    "close_connectors",
    "connector_problems",
    "prepare_connectors",
]


class LocalConfig(ConnectorConfig):
    """``local`` takes no config keys (its users are ``staticPasswords`` and ``idgate user add``)."""


CONNECTOR_TYPES: dict[str, type] = {
    "local": LocalConnector,
    "ldap": LDAPConnector,
    "github": GitHubConnector,
    "gitlab": GitLabConnector,
    "google": GoogleConnector,
    "oidc": OIDCConnector,
}

CONFIG_MODELS: dict[str, type[ConnectorConfig]] = {
    "local": LocalConfig,
    "ldap": LDAPConfig,
    "github": GitHubConfig,
    "gitlab": GitLabConfig,
    "google": GoogleConfig,
    "oidc": OIDCConfig,
}


def connector_problems(type: str, config: Any, at: Loc) -> list[Problem]:
    """Every problem of one ``config`` block of a connector of ``type``, located under ``at``."""
    model = CONFIG_MODELS.get(type)
    if model is None:
        return []  # the type itself is reported by the dex model
    return validate_config(model, config, at)[1]


class _Services:
    def __init__(self, storage: Storage, clock: Clock, http: aiohttp.ClientSession) -> None:
        self.storage, self.clock, self.http = storage, clock, http


def _problem(at: Loc, key: str, message: str) -> ConfigError:
    return ConfigError([Problem(format_path((*at, key)), message)])


def _open_local(entry: ConnectorSettings, config: Any, s: _Services, at: Loc) -> Connector:
    return LocalConnector(s.storage, id=entry.id, name=entry.name or "Email")


def _open_ldap(entry: ConnectorSettings, config: Any, s: _Services, at: Loc) -> Connector:
    try:
        return LDAPConnector(entry.id, entry.name, config)
    except ClientCertError as exc:
        raise _problem(at, "clientCert", str(exc)) from exc
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _problem(at, "rootCA", f"cannot use the CA certificate: {exc}") from exc


def _open_github(entry: ConnectorSettings, config: Any, s: _Services, at: Loc) -> Connector:
    try:
        return GitHubConnector(entry.id, entry.name, config, s.http)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _problem(at, "rootCA", f"cannot use the CA certificate: {exc}") from exc


def _open_gitlab(entry: ConnectorSettings, config: Any, s: _Services, at: Loc) -> Connector:
    return GitLabConnector(entry.id, entry.name, config, s.http)


def _open_google(entry: ConnectorSettings, config: Any, s: _Services, at: Loc) -> Connector:
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


def _open_oidc(entry: ConnectorSettings, config: Any, s: _Services, at: Loc) -> Connector:
    try:
        return OIDCConnector(entry.id, entry.name, config, s.http, s.clock)
    except CAError as exc:
        raise ConfigError([Problem(format_path((*at, "rootCAs", exc.index)), exc.message)]) from exc


_OPENERS: dict[str, Callable[[ConnectorSettings, Any, _Services, Loc], Connector]] = {
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
            config = parse_config(CONFIG_MODELS[entry.type], entry.config, (*at, "config"))
            connectors[entry.id] = _OPENERS[entry.type](entry, config, services, (*at, "config"))
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

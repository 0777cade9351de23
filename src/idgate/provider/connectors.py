"""The provider's connectors: which are on, which a client may use, and the two hooks the grants use.

- ``local`` (passwords in storage, with ``dex.staticPasswords`` laid over them) is on when the config has
  static passwords, when no other connector is configured, or when storage holds users
  (``idgate user add``) at start-up.
- every ``dex.connectors`` entry is built by :func:`idgate.connectors.registry.build_connectors` (by the
  web layer's app, which holds the HTTP client they call upstream with).
- a client may use the connectors of its ``allowedConnectors``, or all (:func:`allowed_connectors`).

At refresh (:func:`refresh_identity`) a connector that can refresh is asked again; one that says the
person lost access ends the refresh token family (``invalid_grant``), an unreachable one answers
``temporarily_unavailable`` and ends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

from idgate.connectors.base import Connector, Identity, RefreshConnector, refreshes
from idgate.connectors.local import CONNECTOR_ID, LocalConnector
from idgate.errors import UpstreamError
from idgate.oauth2.errors import InvalidGrant, TemporarilyUnavailable
from idgate.settings import ProviderSettings
from idgate.storage.base import Claims, Client, Storage

log = logging.getLogger("idgate.provider")


def claims_of(identity: Identity) -> Claims:
    return Claims(
        user_id=identity.user_id,
        username=identity.username,
        email=identity.email,
        email_verified=identity.email_verified,
        preferred_username=identity.preferred_username,
        groups=identity.groups,
    )


def identity_of(claims: Claims, connector_data: str) -> Identity:
    return Identity(
        user_id=claims.user_id,
        username=claims.username,
        email=claims.email,
        email_verified=claims.email_verified,
        preferred_username=claims.preferred_username,
        groups=claims.groups,
        connector_data=connector_data,
    )


def configured_connectors(
    settings: ProviderSettings, storage: Storage, built: Mapping[str, Connector]
) -> dict[str, Connector]:
    """The connectors of ``dex.connectors`` (``built`` by the registry) and ``local`` when it applies."""
    connectors: dict[str, Connector] = dict(built)
    if CONNECTOR_ID not in connectors and (settings.static_passwords or not connectors):
        connectors[CONNECTOR_ID] = LocalConnector(storage)
    return connectors


async def add_local_if_users(connectors: dict[str, Connector], storage: Storage) -> None:
    """Turn ``local`` on when storage holds users (``idgate user add``) and it is not on yet."""
    from idgate.storage.base import Password

    if CONNECTOR_ID not in connectors and await storage.list(Password):
        connectors[CONNECTOR_ID] = LocalConnector(storage)


def allowed_connectors(connectors: Mapping[str, Connector], client: Client | None) -> dict[str, Connector]:
    """The connectors ``client`` may use (its ``allowedConnectors``, or all)."""
    if client is None or not client.allowed_connectors:
        return dict(connectors)
    return {k: c for k, c in connectors.items() if k in client.allowed_connectors}


def can_refresh(connectors: Mapping[str, Connector], connector_id: str) -> bool:
    """Whether a grant of ``connector_id`` earns a refresh token: the connector can refresh."""
    connector = connectors.get(connector_id)
    return connector is not None and refreshes(connector)


async def refresh_identity(
    connectors: Mapping[str, Connector],
    connector_id: str,
    scopes: tuple[str, ...],
    claims: Claims,
    connector_data: str,
) -> tuple[Claims, str]:
    """The person as the connector sees them now (RFC 6749 §6 refresh)."""
    connector = connectors.get(connector_id)
    if connector is None:
        raise InvalidGrant("the login method of this grant is no longer configured")
    if not refreshes(connector):
        return claims, connector_data
    try:
        refresher = cast(RefreshConnector, connector)  # refreshes() checked it
        identity = await refresher.refresh(scopes, identity_of(claims, connector_data))
    except UpstreamError as exc:
        from idgate.connectors.errors import UpstreamFailed

        if isinstance(exc, UpstreamFailed):
            raise TemporarilyUnavailable("the identity provider is unreachable; try again") from None
        raise InvalidGrant("the identity provider no longer accepts this login") from None
    return claims_of(identity), identity.connector_data

"""What a grant hands back to the token endpoint, what it may use, and the shape of a grant.

The token endpoint owns the shared steps (parse, authenticate the client, pick the grant by
``grant_type``, issue tokens, render); each grant only decides whether *this* request earns tokens, and
for whom (RFC 6749 §4-§6, RFC 8628 §3.4).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from idgate.oauth2.requests import TokenRequest
from idgate.storage.base import Claims, Client, Record, Storage

#: Stores the records of the tokens issued for a grant (see :attr:`Grant.complete`).
Complete = Callable[[Sequence[Record]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Grant:
    """The outcome of a successful grant: who, for which client, with which scopes.

    ``grant_id`` ties together everything issued for it (access tokens and a refresh token family), so
    one revocation ends all of it. ``refresh_token`` is set when the grant itself rotated one
    (``grant_type=refresh_token``); otherwise the token endpoint may start a new family.

    ``complete``: when the grant has a write of its own left (redeeming the code, rotating the refresh
    token), it is made here, in one transaction with the records of the tokens issued for the grant
    (``complete(records)``): both happen or neither, and a concurrent redemption or rotation that came
    first refuses this one. ``None``: the records are simply stored.
    """

    client_id: str
    scopes: tuple[str, ...]
    claims: Claims
    connector_id: str
    nonce: str = ""
    auth_time: float | None = None
    session_id: str = ""
    connector_data: str = ""
    grant_id: str = ""
    refresh_token: str = ""
    complete: Complete | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """``dex.expiry.refreshTokens``: idle and absolute lifetimes (``None``: unlimited), the reuse
    interval after a rotation (default 0), whether tokens rotate at all (``disableRotation``), and how
    many families a user keeps per client."""

    idle_ttl: float | None = None
    absolute_ttl: float | None = None
    reuse_interval: float = 0.0
    per_client: int = 10
    rotate: bool = True


#: Ask the connector again at refresh: ``(connector_id, scopes, claims, connector_data)`` ->
#: ``(claims, connector_data)``; raises ``InvalidGrant`` when the person lost access.
RefreshIdentity = Callable[[str, tuple[str, ...], Claims, str], Awaitable[tuple[Claims, str]]]

#: The password grant's check: ``(scopes, username, password)`` -> ``(connector_id, claims,
#: connector_data)``, or ``None`` for wrong credentials.
PasswordLogin = Callable[[tuple[str, ...], str, str], Awaitable[tuple[str, Claims, str] | None]]


@dataclass(frozen=True, slots=True)
class GrantContext:
    """What a grant may use: storage, the time, the refresh policy and the provider's connectors."""

    storage: Storage
    now: float
    refresh: RefreshPolicy
    refresh_identity: RefreshIdentity
    password_login: PasswordLogin | None = None


class GrantType(Protocol):
    """One ``grant_type`` of the token endpoint."""

    grant_type: ClassVar[str]

    async def exchange(self, ctx: GrantContext, client: Client, request: TokenRequest) -> Grant:
        """Check the request for ``client`` and return what it grants, or raise an ``OAuthError``."""
        ...

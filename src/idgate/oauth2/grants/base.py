"""What a grant hands back to the token endpoint, and the shape of a grant.

The token endpoint owns the shared steps (parse, authenticate the client, pick the grant by
``grant_type``, issue tokens, render); each grant only decides whether *this* request earns tokens, and
for whom. Later grants (``refresh_token``, device code) are more objects of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from idgate.oauth2.requests import TokenRequest
from idgate.storage.base import Claims, Client, Storage


@dataclass(frozen=True, slots=True)
class Grant:
    """The outcome of a successful grant: who, for which client, with which scopes."""

    client_id: str
    scopes: tuple[str, ...]
    claims: Claims
    connector_id: str
    nonce: str = ""


class GrantType(Protocol):
    """One ``grant_type`` of the token endpoint."""

    grant_type: ClassVar[str]

    async def exchange(self, storage: Storage, client: Client, request: TokenRequest, now: float) -> Grant:
        """Check the request for ``client`` and return what it grants, or raise an ``OAuthError``."""
        ...

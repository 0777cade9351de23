"""The token side of the provider: ``/token`` (RFC 6749 §3.2), token issuing, ``/userinfo`` (OIDC Core
§5.3), ``/token/introspect`` (RFC 7662) and ``/token/revoke`` (RFC 7009).

Client authentication is the same everywhere (:mod:`idgate.oauth2.client_auth`): an unknown client and a
wrong secret answer alike, ``invalid_client``. Introspection needs a confidential client; a client sees
only tokens issued to it or naming it as a trusted peer in their audience.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from idgate.connectors.base import Connector
from idgate.errors import NotFound
from idgate.oauth2 import client_auth
from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import (
    InvalidClient,
    InvalidScope,
    InvalidToken,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from idgate.oauth2.grants import Grant, GrantContext, GrantType
from idgate.oauth2.grants.refresh_token import secret_hash, split_token, start_family
from idgate.oauth2.requests import (
    Params,
    TokenQuery,
    parse_client_credentials,
    parse_token_query,
    parse_token_request,
)
from idgate.oauth2.revocation import revoke_grant
from idgate.oidc import id_token
from idgate.oidc.keys import KeyRing
from idgate.oidc.subject import encode_subject
from idgate.provider.connectors import can_refresh
from idgate.settings import ProviderSettings
from idgate.storage.base import AccessToken, Client, Record, RefreshToken, Storage, secret_id
from idgate.threads import CorePool

log = logging.getLogger("idgate.provider")

TOKEN_BYTES = 32
#: ID-token signatures (RS256: ~0.3 ms of a core each) run here, off the event loop: the signature
#: releases the GIL, so a one-process idgate signs on every core while its loop goes on serving.
_SIGNING = CorePool("idgate-sign")

ClientLookup = Callable[[str], Awaitable[Client | None]]


async def check_peers(lookup: ClientLookup, client: Client, scopes: tuple[str, ...]) -> None:
    """Each ``audience:server:client_id:PEER`` must name a client that trusts ``client``."""
    for peer_id in scope_names.audiences(scopes):
        if peer_id == client.id:
            continue
        peer = await lookup(peer_id)
        if peer is None or client.id not in peer.trusted_peers:
            raise InvalidScope(f"client {client.id!r} is not a trusted peer of {peer_id!r}")


class Tokens:
    """Issues, describes and revokes tokens."""

    def __init__(
        self,
        *,
        settings: ProviderSettings,
        storage: Storage,
        keys: KeyRing,
        lookup: ClientLookup,
        grants: dict[str, GrantType],
        context: Callable[[], GrantContext],
        connectors: Mapping[str, Connector],
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.keys = keys
        self.lookup = lookup
        self.grants = grants
        self.context = context
        self.connectors = connectors

    async def authenticate(self, authorization: str | None, params: Params) -> Client:
        credentials = parse_client_credentials(authorization, params)
        return client_auth.authenticate(credentials, await self.lookup(credentials.client_id))

    # -- /token ------------------------------------------------------------------------------

    async def token(self, authorization: str | None, params: Params) -> dict[str, Any]:
        """Authenticate the client, run the grant, issue tokens."""
        client = await self.authenticate(authorization, params)
        request = parse_token_request(params)
        grant_type = self.grants.get(request.grant_type)
        if grant_type is None:
            raise UnsupportedGrantType("unsupported grant_type")
        ctx = self.context()
        refreshing = request.grant_type == "refresh_token"
        try:
            grant = await grant_type.exchange(ctx, client, request)
            if request.grant_type == "password":
                await check_peers(self.lookup, client, grant.scopes)
            answer = await self.issue(ctx, grant, refresh=True)  # the grant's own write goes with it
        except Exception:
            if refreshing:  # metrics: idgate_refreshes_total (idgate.runtime.metrics)
                log.info(
                    "refresh refused", extra={"client_id": client.id, "event": "refresh", "result": "failure"}
                )
            raise
        if refreshing:
            log.info(
                "refresh granted", extra={"client_id": client.id, "event": "refresh", "result": "success"}
            )
        return answer

    async def issue(
        self, ctx: GrantContext, grant: Grant, *, refresh: bool, with_access: bool = True
    ) -> dict[str, Any]:
        """Access token, ID token, and a refresh token when the grant earns one (``offline_access`` and a
        connector that can refresh). ``with_access=False``: the ID token alone (implicit ``id_token``)."""
        now = ctx.now
        ttl = self.settings.id_token_ttl
        if not with_access:
            claims = id_token.id_token_claims(issuer=self.settings.issuer, grant=grant, now=now, ttl=ttl)
            return {"id_token": await self._signed(claims), "expires_in": int(ttl)}
        access = secrets.token_urlsafe(TOKEN_BYTES)
        records: list[Record] = [
            AccessToken(
                id=secret_id(access),
                client_id=grant.client_id,
                scopes=grant.scopes,
                connector_id=grant.connector_id,
                claims=grant.claims,
                issued_at=now,
                expires_at=now + ttl,
                grant_id=grant.grant_id,
                session_id=grant.session_id,
            )
        ]
        refresh_token = grant.refresh_token
        if (
            refresh
            and not refresh_token
            and scope_names.OFFLINE_ACCESS in grant.scopes
            and grant.grant_id
            and can_refresh(self.connectors, grant.connector_id)
        ):
            refresh_token, family = await start_family(ctx, grant)
            records.append(family)
        if grant.complete is None:
            await self.storage.create(*records)  # one transaction: the access token and a new family
        else:
            await grant.complete(records)  # ... and the grant's own write (code redeemed, token rotated)
        claims = id_token.id_token_claims(
            issuer=self.settings.issuer, grant=grant, now=now, ttl=ttl, access_token=access
        )
        doc: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(ttl),
            "id_token": await self._signed(claims),
            "scope": " ".join(grant.scopes),
        }
        if refresh_token:
            doc["refresh_token"] = refresh_token
        return doc

    async def _signed(self, claims: dict[str, Any]) -> str:
        return await _SIGNING.run(id_token.sign, claims, await self.keys.current())

    # -- /userinfo ---------------------------------------------------------------------------

    async def _access_token(self, token: str, now: float) -> AccessToken | None:
        try:
            found = await self.storage.get(AccessToken, secret_id(token))
        except NotFound:
            return None
        return found if now < found.expires_at else None

    async def userinfo(self, bearer: str, now: float) -> dict[str, Any]:
        """The claims an access token releases (OIDC Core §5.3); revoked or expired tokens are refused."""
        if not bearer:
            raise InvalidToken("bearer token required")
        token = await self._access_token(bearer, now)
        if token is None:
            raise InvalidToken("access token is invalid, expired or revoked")
        return id_token.identity_claims(token.claims, token.connector_id, token.scopes)

    # -- /token/introspect -------------------------------------------------------------------

    async def _refresh_family(self, token: str, now: float) -> RefreshToken | None:
        family_id, secret = split_token(token)
        if not family_id:
            return None
        try:
            family = await self.storage.get(RefreshToken, family_id)
        except NotFound:
            return None
        if not client_auth.secrets_equal(secret_hash(secret), family.secret_hash):
            return None
        if family.expires_at is not None and now >= family.expires_at:
            return None
        return family

    def _visible(self, client: Client, owner: str, scopes: tuple[str, ...]) -> bool:
        return owner == client.id or client.id in scope_names.audiences(scopes)

    async def introspect(self, authorization: str | None, params: Params, now: float) -> dict[str, Any]:
        """RFC 7662 §2.2: ``{"active": false}`` for anything unknown, expired, revoked or not visible."""
        client = await self.authenticate(authorization, params)
        if client.public:
            raise InvalidClient("introspection needs client authentication")
        query = parse_token_query(params)
        inactive: dict[str, Any] = {"active": False}
        for kind in self._order(query):
            if kind == "refresh_token":
                family = await self._refresh_family(query.token, now)
                if family is not None and self._visible(client, family.client_id, family.scopes):
                    doc = self._description(family.client_id, family.scopes, family.connector_id)
                    doc.update(
                        sub=encode_subject(family.claims.user_id, family.connector_id),
                        token_type="refresh_token",
                        iat=int(family.last_used_at),
                        username=family.claims.email or family.claims.username,
                    )
                    if family.expires_at is not None:
                        doc["exp"] = int(family.expires_at)
                    return doc
            else:
                access = await self._access_token(query.token, now)
                if access is not None and self._visible(client, access.client_id, access.scopes):
                    doc = self._description(access.client_id, access.scopes, access.connector_id)
                    doc.update(
                        sub=encode_subject(access.claims.user_id, access.connector_id),
                        token_type="Bearer",
                        iat=int(access.issued_at),
                        exp=int(access.expires_at),
                        username=access.claims.email or access.claims.username,
                    )
                    return doc
        return inactive

    def _description(self, client_id: str, scopes: tuple[str, ...], connector_id: str) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "iss": self.settings.issuer,
            "aud": id_token.audience(client_id, scopes),
        }

    @staticmethod
    def _order(query: TokenQuery) -> tuple[str, str]:
        if query.token_type_hint == "refresh_token":
            return ("refresh_token", "access_token")
        return ("access_token", "refresh_token")

    # -- /token/revoke -----------------------------------------------------------------------

    async def revoke(self, authorization: str | None, params: Params, now: float) -> None:
        """RFC 7009 §2.1: end a refresh token (its whole grant) or an access token of this client.

        An unknown or already invalid token is not an error (§2.2); a token of another client is
        refused with ``unauthorized_client`` and left alone.
        """
        client = await self.authenticate(authorization, params)
        query = parse_token_query(params)  # the hint only orders the search (§2.1); both are looked at
        family = await self._refresh_family(query.token, now)
        if family is not None:
            if family.client_id != client.id:
                raise UnauthorizedClient("the token was issued to another client")
            await revoke_grant(self.storage, family.id)
            return
        access = await self._access_token(query.token, now)
        if access is not None:
            if access.client_id != client.id:
                raise UnauthorizedClient("the token was issued to another client")
            with contextlib.suppress(NotFound):
                await self.storage.delete(AccessToken, access.id)

"""The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

A refresh token is ``<family id>.<secret>``; the family is one :class:`~idgate.storage.base.RefreshToken`
record (Dex's offline session, but one per login or device rather than one per user and client).

- **Rotation.** Every use hands out a new secret and spends the one presented. With Dex's
  ``disableRotation`` the same token stays valid until the family's lifetimes end: nothing is spent, so
  nothing can be detected as replayed (``idgate check`` warns).
- **Reuse.** The spent secret presented again within ``reuseInterval`` of its rotation (default 0: never)
  is accepted once more (a client that lost the answer may retry) and the secret issued the first time
  stops working. Any other spent secret, or one presented after that interval, is a replay: the whole
  family and its access tokens are revoked.
- **Lifetimes.** ``absoluteLifetime`` from the family's first issue, ``validIfNotUsedFor`` from its last
  use (``dex.expiry.refreshTokens``); unset means unlimited, as in Dex.
- **Bound.** A user keeps at most :attr:`RefreshPolicy.per_client` families per client; a new login
  evicts the oldest (:func:`start_family`).
- **Upstream.** The connector is asked again (``RefreshConnector.refresh``) once the token is checked;
  when it refuses (the person was removed upstream), the family is revoked and the answer is
  ``invalid_grant``.
- **One write.** The rotation, the identity the connector returned and the new access token are written
  in one transaction (:attr:`.Grant.complete`); a concurrent use of the same token that came first makes
  this one a replay.

Scopes may be narrowed (``scope`` a subset of the original), never widened.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Sequence
from typing import ClassVar

from idgate.errors import NotFound
from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import InvalidGrant, InvalidRequest, InvalidScope
from idgate.oauth2.grants.base import Grant, GrantContext, RefreshPolicy
from idgate.oauth2.requests import TokenRequest
from idgate.oauth2.revocation import revoke_grant
from idgate.storage.base import Claims, Client, Record, RefreshToken, Storage

SECRET_BYTES = 32


def secret_hash(secret: str) -> str:
    """How a family keeps its secrets: hex SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a, b)


def split_token(token: str) -> tuple[str, str]:
    """``(family id, secret)`` of a refresh token; ``("", "")`` when it cannot be one of ours."""
    family, sep, secret = token.partition(".")
    if not sep or not family or not secret or len(token) > 512:
        return "", ""
    return family, secret


def owner(client_id: str, connector_id: str, user_id: str) -> str:
    """The key that bounds families per user and client."""
    return f"{client_id} {connector_id} {user_id}"


def expiry(policy: RefreshPolicy, created_at: float, used_at: float) -> float | None:
    """When a family dies: the earlier of its absolute and idle limits (``None``: never)."""
    limits = []
    if policy.absolute_ttl is not None:
        limits.append(created_at + policy.absolute_ttl)
    if policy.idle_ttl is not None:
        limits.append(used_at + policy.idle_ttl)
    return min(limits) if limits else None


class RefreshReplayed(InvalidGrant):
    """A spent refresh token came back: the family is revoked."""

    def __init__(self) -> None:
        super().__init__("refresh token was already used; its grant is revoked")


async def start_family(ctx: GrantContext, grant: Grant) -> tuple[str, RefreshToken]:
    """A new refresh token family for ``grant`` (id ``grant.grant_id``): the token to hand out, and the
    record for the caller to store (with the grant's other records, in one transaction).

    The user's oldest families for this client beyond the bound are revoked first.
    """
    now = ctx.now
    key = owner(grant.client_id, grant.connector_id, grant.claims.user_id)
    existing = sorted(await ctx.storage.find(RefreshToken, owner=key), key=lambda f: f.created_at)
    for old in existing[: max(0, len(existing) - ctx.refresh.per_client + 1)]:
        await revoke_grant(ctx.storage, old.id)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    family = RefreshToken(
        id=grant.grant_id,
        client_id=grant.client_id,
        owner=key,
        scopes=grant.scopes,
        nonce=grant.nonce,
        connector_id=grant.connector_id,
        claims=grant.claims,
        connector_data=grant.connector_data,
        secret_hash=secret_hash(secret),
        created_at=now,
        last_used_at=now,
        expires_at=expiry(ctx.refresh, now, now),
        session_id=grant.session_id,
        auth_time=grant.auth_time,
    )
    return f"{grant.grant_id}.{secret}", family


def rotation(client: Client, secret: str, new_secret: str, policy: RefreshPolicy, now: float) -> Rotate:
    return Rotate(client, secret_hash(secret), secret_hash(new_secret), policy, now)


@dataclasses.dataclass
class Rotate:
    """The update that rotates a family, or refuses (writing nothing)."""

    client: Client
    presented: str
    fresh: str
    policy: RefreshPolicy
    now: float

    def spends(self, family: RefreshToken) -> str:
        """The secret hash this use spends (``""``: none, rotation is off); refused unless the presented
        secret may be used now."""
        if family.client_id != self.client.id:
            raise InvalidGrant("refresh token was issued to another client")
        if family.expires_at is not None and self.now >= family.expires_at:
            raise InvalidGrant("refresh token expired")
        if _same(self.presented, family.secret_hash):
            return family.secret_hash if self.policy.rotate else ""
        if (
            _same(self.presented, family.previous_hash)
            and family.rotated_at is not None
            and self.now - family.rotated_at <= self.policy.reuse_interval
            and self.policy.reuse_interval > 0
        ):
            return family.previous_hash  # the retry of a lost answer: the first answer stops working
        raise RefreshReplayed()

    def __call__(self, family: RefreshToken, identity: tuple[Claims, str] | None = None) -> RefreshToken:
        """``family`` used now (rotated, unless rotation is off); with ``identity``, the claims and
        connector data the connector reported kept with it."""
        spent = self.spends(family)
        claims, data = identity or (family.claims, family.connector_data)
        expires_at = expiry(self.policy, family.created_at, self.now)
        if not spent:  # disableRotation: the same secret, only the lifetimes move
            return dataclasses.replace(
                family, last_used_at=self.now, expires_at=expires_at, claims=claims, connector_data=data
            )
        return dataclasses.replace(
            family,
            secret_hash=self.fresh,
            previous_hash=spent,
            rotated_at=self.now if spent == family.secret_hash else family.rotated_at,
            last_used_at=self.now,
            expires_at=expires_at,
            claims=claims,
            connector_data=data,
        )


async def _refusing(storage: Storage, family_id: str, use: Awaitable[RefreshToken]) -> RefreshToken:
    """The family a use of its token read or wrote; an unknown (or revoked) family is ``invalid_grant``,
    and a replay revokes the family."""
    try:
        return await use
    except NotFound:
        raise InvalidGrant("refresh token is invalid") from None
    except RefreshReplayed:
        await revoke_grant(storage, family_id)
        raise


class RefreshTokenGrant:
    """``grant_type=refresh_token``."""

    grant_type: ClassVar[str] = "refresh_token"

    async def exchange(self, ctx: GrantContext, client: Client, request: TokenRequest) -> Grant:
        if not request.refresh_token:
            raise InvalidRequest("refresh_token is required")
        family_id, secret = split_token(request.refresh_token)
        if not family_id:
            raise InvalidGrant("refresh token is invalid")
        new_secret = secrets.token_urlsafe(SECRET_BYTES) if ctx.refresh.rotate else secret
        rotate = rotation(client, secret, new_secret, ctx.refresh, ctx.now)
        storage = ctx.storage

        async def checked() -> RefreshToken:  # refused here, before the connector is asked
            stored = await storage.get(RefreshToken, family_id)
            rotate.spends(stored)
            return stored

        family = await _refusing(storage, family_id, checked())
        scopes = family.scopes
        if request.scope:
            asked = request.scopes
            if not set(asked) <= set(family.scopes):
                raise InvalidScope("scope exceeds what was originally granted")
            scopes = tuple(s for s in family.scopes if s in asked)
            scope_names.check(scopes)
        try:
            claims, data = await ctx.refresh_identity(
                family.connector_id, scopes, family.claims, family.connector_data
            )
        except InvalidGrant:
            await revoke_grant(ctx.storage, family_id)
            raise

        def use(current: RefreshToken) -> RefreshToken:  # rotated, with what the connector says now
            return rotate(current, (claims, data))

        async def complete(records: Sequence[Record]) -> None:  # against the family as it was checked
            written = storage.update(RefreshToken, family_id, use, create=records, seen=family)
            await _refusing(storage, family_id, written)

        return Grant(
            client_id=family.client_id,
            scopes=scopes,
            claims=claims,
            connector_id=family.connector_id,
            nonce=family.nonce,
            auth_time=family.auth_time,
            session_id=family.session_id,
            connector_data=data,
            grant_id=family_id,
            refresh_token=f"{family_id}.{new_secret}",
            complete=complete,
        )

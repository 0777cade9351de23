"""Clients and passwords from the values file, laid read-only over any backend (Dex's static storage).

A static record shadows a stored one with the same id; changing or deleting it is refused, because the
config file is where it lives. Every other kind passes straight through.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence

from idgate.errors import StorageError
from idgate.settings import ClientSettings, StaticPassword
from idgate.storage.base import Client, GarbageCollected, Password, R, Record, Storage


class ReadOnly(StorageError):
    """The record comes from the config file and cannot be changed through storage."""


def client_from_settings(c: ClientSettings) -> Client:
    return Client(
        id=c.id,
        secret=c.secret,
        name=c.name,
        redirect_uris=c.redirect_uris,
        public=c.public,
        trusted_peers=c.trusted_peers,
        post_logout_redirect_uris=c.post_logout_redirect_uris,
        allowed_connectors=c.allowed_connectors,
        require_pkce=c.require_pkce,
    )


def password_from_settings(p: StaticPassword) -> Password:
    return Password(
        id=p.email.lower(),
        email=p.email,
        hash=p.hash.decode("ascii"),
        username=p.username,
        user_id=p.user_id,
    )


class StaticStorage:
    """:class:`~idgate.storage.base.Storage` with static clients and passwords over ``backend``."""

    def __init__(
        self,
        backend: Storage,
        clients: Iterable[Client] = (),
        passwords: Iterable[Password] = (),
    ) -> None:
        self.backend = backend
        self._static: dict[type[Record], dict[str, Record]] = {
            Client: {c.id: c for c in clients},
            Password: {p.id: p for p in passwords},
        }

    def _static_record(self, kind: type[Record], id: str) -> Record | None:
        return self._static.get(kind, {}).get(id)

    def _check_writable(self, records: Iterable[Record]) -> None:
        for record in records:
            if self._static_record(type(record), record.id) is not None:
                raise ReadOnly(f"{record.KIND} {record.id!r} is defined in the config file")

    async def create(self, *records: Record) -> None:
        self._check_writable(records)
        await self.backend.create(*records)

    async def get(self, kind: type[R], id: str) -> R:
        found = self._static_record(kind, id)
        if found is not None:
            assert isinstance(found, kind)
            return found
        return await self.backend.get(kind, id)

    async def list(self, kind: type[R]) -> list[R]:
        static = self._static.get(kind, {})
        stored = [r for r in await self.backend.list(kind) if r.id not in static]
        merged: list[R] = [r for r in static.values() if isinstance(r, kind)] + stored
        return sorted(merged, key=lambda r: r.id)

    async def update(
        self,
        kind: type[R],
        id: str,
        fn: Callable[[R], R],
        *,
        create: Sequence[Record] = (),
        seen: R | None = None,
    ) -> R:
        if self._static_record(kind, id) is not None:
            raise ReadOnly(f"{kind.KIND} {id!r} is defined in the config file")
        self._check_writable(create)
        return await self.backend.update(kind, id, fn, create=create, seen=seen)

    async def delete(self, kind: type[R], id: str) -> None:
        if self._static_record(kind, id) is not None:
            raise ReadOnly(f"{kind.KIND} {id!r} is defined in the config file")
        await self.backend.delete(kind, id)

    async def find(self, kind: type[R], **equals: str) -> builtins.list[R]:
        return await self.backend.find(kind, **equals)

    async def delete_where(self, kind: type[R], **equals: str) -> int:
        return await self.backend.delete_where(kind, **equals)

    async def garbage_collect(self, now: float) -> GarbageCollected:
        return await self.backend.garbage_collect(now)

    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None:
        await self.backend.revoke_session(id, revoked_at, expires_at)

    async def revoked_sessions(self, since: float, now: float) -> builtins.list[tuple[str, float]]:
        return await self.backend.revoked_sessions(since, now)

    async def close(self) -> None:
        await self.backend.close()

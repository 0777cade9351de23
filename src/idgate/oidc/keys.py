"""Signing keys: generated on first start, kept in storage, published as a JWKS.

The key set is one storage record (:class:`~idgate.storage.base.SigningKeys`), so every process and
replica signs with the same key, and the replica that starts first creates it (the others find it, or
lose the ``create`` race and read the winner's). Rotation (issue 3) will be one ``update`` of that record.

:class:`KeyRing` caches the set per process and re-reads it from storage every :attr:`KeyRing.refresh`
seconds, so a rotation done by another replica is picked up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import KeySet, RSAKey

from idgate.clock import Clock
from idgate.errors import AlreadyExists, NotFound
from idgate.storage.base import SigningKey, SigningKeys, Storage

ALGORITHM = "RS256"
RSA_BITS = 2048


def generate_signing_key(now: float) -> SigningKey:
    """A fresh 2048-bit RSA key for RS256; ``kid`` is its RFC 7638 thumbprint. Slow: run in a thread."""
    key = RSAKey.generate_key(RSA_BITS, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    return SigningKey(
        kid=key.thumbprint(),
        alg=ALGORITHM,
        private_pem=key.as_pem(private=True).decode("ascii"),
        created_at=now,
    )


def _import(key: SigningKey) -> RSAKey:
    return RSAKey.import_key(key.private_pem, parameters={"kid": key.kid, "alg": key.alg, "use": "sig"})


@dataclass(frozen=True, slots=True)
class LoadedKeys:
    """Keys ready to use: the signer and the public JWKS document."""

    signer: RSAKey
    jwks: dict[str, Any]
    verifier: KeySet


def load(keys: SigningKeys) -> LoadedKeys:
    imported = [_import(k) for k in keys.keys]
    public = [k.as_dict(private=False) for k in imported]
    return LoadedKeys(
        signer=imported[0],
        jwks={"keys": public},
        verifier=KeySet([RSAKey.import_key(p) for p in public]),
    )


async def ensure_signing_keys(storage: Storage, clock: Clock, rotate_after: float) -> SigningKeys:
    """The stored key set, creating it with one new key if there is none yet."""
    try:
        return await storage.get(SigningKeys, SigningKeys.SINGLETON)
    except NotFound:
        pass
    now = clock.now()
    key = await asyncio.to_thread(generate_signing_key, now)
    record = SigningKeys(id=SigningKeys.SINGLETON, keys=(key,), next_rotation=now + rotate_after)
    try:
        await storage.create(record)
    except AlreadyExists:  # another process was first: use its key
        return await storage.get(SigningKeys, SigningKeys.SINGLETON)
    return record


class KeyRing:
    """The per-process view of the signing keys."""

    refresh: float = 60.0

    def __init__(self, storage: Storage, clock: Clock, rotate_after: float) -> None:
        self._storage = storage
        self._clock = clock
        self._rotate_after = rotate_after
        self._loaded: LoadedKeys | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> LoadedKeys:
        """The keys, from the cache or (at most every :attr:`refresh` seconds) from storage."""
        now = self._clock.now()
        if self._loaded is not None and now - self._loaded_at < self.refresh:
            return self._loaded
        async with self._lock:
            if self._loaded is None or now - self._loaded_at >= self.refresh:
                stored = await ensure_signing_keys(self._storage, self._clock, self._rotate_after)
                self._loaded = load(stored)
                self._loaded_at = now
            return self._loaded

"""Signing keys: generated on first start, kept in storage, rotated, published as a JWKS (RFC 7517).

The key set is one storage record (:class:`~idgate.storage.base.SigningKeys`), so every process and
replica signs with the same key. It holds three kinds of key::

    keys[0]      the signer                     published, signs every new ID token
    next         the key that signs next        published now, signs after the next rotation
    keys[1:]     retired signers                published until ``retire_at``, sign nothing

A rotation (due every ``dex.expiry.signingKeys``, default 6 h) is one :meth:`Storage.update` of that
record: the signer retires (kept until every ID token it signed has expired: ``now + id_token_ttl``),
``next`` becomes the signer, a fresh key becomes ``next``, and retired keys past ``retire_at`` go. So a
relying party that caches ``/keys`` has seen a key for a whole rotation period before any token carries
it. Only one replica rotates: the update is a compare-and-swap, and the function re-checks that the
rotation is still due on the state it is given, so a replica that loses the race writes nothing new.

RS256 (2048-bit RSA) is the default; ES256 (P-256) is chosen with ``idgate.signing_algorithm``. A change
of algorithm takes effect at the next rotation (the pre-published ``next`` key keeps its algorithm).

:class:`KeyRing` caches the set per process, re-reads it every :attr:`KeyRing.refresh` seconds, and
rotates when it finds a rotation due.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey

from idgate.clock import Clock
from idgate.errors import AlreadyExists, NotFound
from idgate.storage.base import SigningKey, SigningKeys, Storage

RS256 = "RS256"
ES256 = "ES256"
ALGORITHMS = (RS256, ES256)
ALGORITHM = RS256  # the default
RSA_BITS = 2048

JoseKey = RSAKey | ECKey


def generate_signing_key(now: float, algorithm: str = RS256) -> SigningKey:
    """A fresh key for ``algorithm``; ``kid`` is its RFC 7638 thumbprint. Slow for RSA: run in a thread."""
    params: KeyParameters = {"alg": algorithm, "use": "sig"}
    key: JoseKey
    if algorithm == RS256:
        key = RSAKey.generate_key(RSA_BITS, parameters=params, private=True)
    elif algorithm == ES256:
        key = ECKey.generate_key("P-256", parameters=params, private=True)
    else:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")
    return SigningKey(
        kid=key.thumbprint(),
        alg=algorithm,
        private_pem=key.as_pem(private=True).decode("ascii"),
        created_at=now,
    )


def _import(key: SigningKey) -> JoseKey:
    params: KeyParameters = {"kid": key.kid, "alg": key.alg, "use": "sig"}
    if key.alg == ES256:
        return ECKey.import_key(key.private_pem, parameters=params)
    return RSAKey.import_key(key.private_pem, parameters=params)


def published(keys: SigningKeys, now: float) -> list[SigningKey]:
    """Every key a verifier may need at ``now``: the signer, the next one, retired ones still valid."""
    live = [k for k in keys.keys if k.retire_at is None or k.retire_at > now]
    return live + ([keys.next] if keys.next is not None else [])


@dataclass(frozen=True, slots=True)
class LoadedKeys:
    """Keys ready to use: the signer, its algorithm, the public JWKS document and a verifier set."""

    signer: JoseKey
    jwks: dict[str, Any]
    verifier: KeySet

    @property
    def algorithm(self) -> str:
        alg: str = self.signer.alg or RS256
        return alg


def load(keys: SigningKeys, now: float | None = None) -> LoadedKeys:
    chosen = published(keys, now) if now is not None else [*keys.keys, *([keys.next] if keys.next else [])]
    if keys.keys[0] not in chosen:
        chosen.insert(0, keys.keys[0])
    imported = [_import(k) for k in chosen]
    public = [k.as_dict(private=False) for k in imported]
    return LoadedKeys(
        signer=_import(keys.keys[0]),
        jwks={"keys": public},
        verifier=KeySet.import_key_set({"keys": public}),
    )


def rotated(
    keys: SigningKeys, fresh: SigningKey, now: float, *, rotate_after: float, token_ttl: float, force: bool
) -> SigningKeys:
    """The key set after a rotation at ``now`` (or ``keys`` unchanged when none is due)."""
    if not force and now < keys.next_rotation:
        return keys
    signer = keys.keys[0]
    retired = dataclasses.replace(signer, signs_until=now, retire_at=now + token_ttl)
    kept = [k for k in keys.keys[1:] if k.retire_at is not None and k.retire_at > now]
    new_signer = keys.next if keys.next is not None else fresh
    new_next = fresh if keys.next is not None else None
    return dataclasses.replace(
        keys,
        keys=(new_signer, retired, *kept),
        next=new_next,
        next_rotation=now + rotate_after,
    )


def with_next(keys: SigningKeys, fresh: SigningKey) -> SigningKeys:
    """``keys`` with ``fresh`` as the next key when there is none yet (records older than rotation)."""
    return keys if keys.next is not None else dataclasses.replace(keys, next=fresh)


class KeyRing:
    """The per-process view of the signing keys; rotates them when a rotation is due."""

    refresh: float = 60.0

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        rotate_after: float,
        *,
        algorithm: str = RS256,
        token_ttl: float = 24 * 3600.0,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm {algorithm!r}")
        self._storage = storage
        self._clock = clock
        self._rotate_after = rotate_after
        self._algorithm = algorithm
        self._token_ttl = token_ttl
        self._loaded: LoadedKeys | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def _generate(self) -> SigningKey:
        return await asyncio.to_thread(generate_signing_key, self._clock.now(), self._algorithm)

    async def stored(self) -> SigningKeys:
        """The stored key set, created (signer + next) if there is none, completed if it has no next."""
        try:
            keys = await self._storage.get(SigningKeys, SigningKeys.SINGLETON)
        except NotFound:
            now = self._clock.now()
            signer, upcoming = await asyncio.gather(self._generate(), self._generate())
            record = SigningKeys(
                id=SigningKeys.SINGLETON,
                keys=(signer,),
                next=upcoming,
                next_rotation=now + self._rotate_after,
            )
            try:
                await self._storage.create(record)
            except AlreadyExists:  # another process was first: use its keys
                return await self._storage.get(SigningKeys, SigningKeys.SINGLETON)
            return record
        if keys.next is None:
            fresh = await self._generate()
            keys = await self._storage.update(
                SigningKeys, SigningKeys.SINGLETON, lambda k: with_next(k, fresh)
            )
        return keys

    async def rotate(self, *, force: bool = False) -> SigningKeys:
        """Rotate if due (or now, with ``force``); the key set as stored afterwards."""
        keys = await self.stored()
        now = self._clock.now()
        if not force and now < keys.next_rotation:
            return keys
        fresh = await self._generate()
        seen: list[float] = []

        def rotate(current: SigningKeys) -> SigningKeys:
            # A forced rotation rotates once, even if another replica rotated in between.
            due = force and not seen and current.next_rotation == keys.next_rotation
            seen.append(current.next_rotation)
            return rotated(
                current,
                fresh,
                now,
                rotate_after=self._rotate_after,
                token_ttl=self._token_ttl,
                force=due,
            )

        result = await self._storage.update(SigningKeys, SigningKeys.SINGLETON, rotate)
        self._loaded = None
        if result.next_rotation != keys.next_rotation:  # metrics: idgate_key_rotations_total
            logging.getLogger("idgate.oidc").info("signing keys rotated", extra={"event": "key_rotation"})
        return result

    async def current(self) -> LoadedKeys:
        """The keys, from the cache or (at most every :attr:`refresh` seconds) from storage."""
        now = self._clock.now()
        if self._loaded is not None and now - self._loaded_at < self.refresh:
            return self._loaded
        async with self._lock:
            if self._loaded is None or now - self._loaded_at >= self.refresh:
                stored = await self.rotate()
                self._loaded = load(stored, now)
                self._loaded_at = now
            return self._loaded

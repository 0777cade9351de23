"""Signing key rotation: the next key is published before it signs, retired keys stay until every token
they signed has expired, one rotation per period however many replicas, ES256 on request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from idgate.clock import FrozenClock
from idgate.oauth2.grants.base import Grant
from idgate.oidc import id_token
from idgate.oidc.keys import KeyRing
from idgate.storage import Storage, open_storage
from idgate.storage.base import Claims, SigningKeys

HOUR = 3600.0
CLAIMS = Claims(user_id="u", username="admin", email="a@example.com", email_verified=True)


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    storage = await open_storage("sqlite:///:memory:")
    yield storage
    await storage.close()


def kids(jwks: dict[str, list[dict[str, str]]]) -> list[str]:
    return [k["kid"] for k in jwks["keys"]]


def sign(keys: object, now: float) -> str:
    grant = Grant(client_id="c", scopes=("openid",), claims=CLAIMS, connector_id="local")
    claims = id_token.id_token_claims(issuer="https://i", grant=grant, now=now, ttl=HOUR)
    return id_token.sign(claims, keys)  # type: ignore[arg-type]


async def test_the_next_key_is_published_a_whole_period_before_it_signs(storage: Storage) -> None:
    clock = FrozenClock()
    ring = KeyRing(storage, clock, 6 * HOUR, token_ttl=HOUR)
    first = await ring.current()
    signer, upcoming = kids(first.jwks)
    assert first.signer.kid == signer
    clock.advance(6 * HOUR)
    second = await ring.current()
    assert second.signer.kid == upcoming  # the key seen in /keys for 6 h now signs
    assert signer in kids(second.jwks)  # the old signer is still published
    assert len(kids(second.jwks)) == 3  # old, current, and a new next


async def test_a_retired_key_stays_until_every_token_it_signed_expired(storage: Storage) -> None:
    clock = FrozenClock()
    ring = KeyRing(storage, clock, 6 * HOUR, token_ttl=HOUR)
    old = await ring.current()
    token = sign(old, clock.now())
    clock.advance(6 * HOUR)
    rotated = await ring.current()
    jwt.decode(token, KeySet.import_key_set(rotated.jwks), algorithms=["RS256"])  # still verifiable
    clock.advance(HOUR + 1)
    later = await ring.current()
    assert old.signer.kid not in kids(later.jwks)


async def test_replicas_rotate_once_per_period(storage: Storage) -> None:
    clock = FrozenClock()
    rings = [KeyRing(storage, clock, 6 * HOUR) for _ in range(4)]
    await rings[0].current()
    clock.advance(6 * HOUR)
    await asyncio.gather(*(r.rotate() for r in rings))
    stored = await storage.get(SigningKeys, SigningKeys.SINGLETON)
    assert len(stored.keys) == 2  # one rotation: new signer + one retired key
    assert stored.next_rotation == clock.now() + 6 * HOUR


async def test_a_forced_rotation_rotates_now(storage: Storage) -> None:
    clock = FrozenClock()
    ring = KeyRing(storage, clock, 6 * HOUR)
    before = await ring.current()
    after = await ring.rotate(force=True)
    assert after.keys[0].kid != before.signer.kid
    assert after.keys[1].kid == before.signer.kid


async def test_es256_keys_sign_tokens_that_verify_against_the_jwks(storage: Storage) -> None:
    clock = FrozenClock()
    keys = await KeyRing(storage, clock, HOUR, algorithm="ES256").current()
    assert keys.algorithm == "ES256"
    assert {k["kty"] for k in keys.jwks["keys"]} == {"EC"}
    token = sign(keys, clock.now())
    decoded = jwt.decode(token, KeySet.import_key_set(keys.jwks), algorithms=["ES256"])
    assert decoded.header["alg"] == "ES256"
    with pytest.raises(ValueError, match="unsupported"):
        KeyRing(storage, clock, HOUR, algorithm="HS256")

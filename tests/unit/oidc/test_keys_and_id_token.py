from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet, RSAKey

from idgate.clock import FrozenClock
from idgate.oauth2.grants.base import Grant
from idgate.oidc import id_token
from idgate.oidc.keys import KeyRing, load
from idgate.oidc.subject import encode_subject
from idgate.storage import Storage, open_storage
from idgate.storage.base import Claims, SigningKeys

ISSUER = "https://kkp.example.com/dex"
CLAIMS = Claims(
    user_id="08a8684b-db88-4b73-90a9-3cd1661f5466",
    username="admin",
    email="kubermatic@example.com",
    email_verified=True,
    preferred_username="admin",
    groups=("mygithuborg", "mygithuborg:mygroup"),
)


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    storage = await open_storage("sqlite:///:memory:")
    yield storage
    await storage.close()


def grant(scopes: tuple[str, ...], nonce: str = "n-1") -> Grant:
    return Grant(client_id="prometheus", scopes=scopes, claims=CLAIMS, connector_id="local", nonce=nonce)


async def test_first_start_generates_one_2048_bit_rsa_key_and_stores_it(storage: Storage) -> None:
    clock = FrozenClock()
    keys = await KeyRing(storage, clock, 3600).stored()
    assert len(keys.keys) == 1 and keys.keys[0].alg == "RS256"
    assert keys.next_rotation == clock.now() + 3600
    assert await storage.get(SigningKeys, SigningKeys.SINGLETON) == keys
    signer = load(keys).signer
    assert signer.as_dict(private=False)["n"]
    private = RSAKey.import_key(keys.keys[0].private_pem).private_key
    assert private is not None and private.key_size == 2048


async def test_every_process_uses_the_stored_key(storage: Storage) -> None:
    clock = FrozenClock()
    one, two = KeyRing(storage, clock, 3600), KeyRing(storage, clock, 3600)
    a, b = await asyncio.gather(one.current(), two.current())
    assert a.jwks == b.jwks
    assert len(a.jwks["keys"]) == 2  # the signer and the next key, published before it signs


def test_jwks_publishes_only_public_parameters() -> None:
    from idgate.oidc.keys import generate_signing_key

    loaded = load(SigningKeys(id="signing", keys=(generate_signing_key(0.0),), next_rotation=1.0))
    (jwk,) = loaded.jwks["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert jwk["alg"] == "RS256" and jwk["use"] == "sig"


async def test_id_token_verifies_against_the_jwks_and_carries_dex_claims(storage: Storage) -> None:
    clock = FrozenClock(1_800_000_000.5)
    keys = await KeyRing(storage, clock, 3600).current()
    claims = id_token.id_token_claims(
        issuer=ISSUER,
        grant=grant(("openid", "email", "groups", "profile", "federated:id")),
        now=clock.now(),
        ttl=86400,
        access_token="the-access-token",
    )
    signed = id_token.sign(claims, keys)

    jwks = KeySet.import_key_set(keys.jwks)  # type: ignore[arg-type]  # what a client fetches from /keys
    token = jwt.decode(signed, jwks, algorithms=["RS256"])
    assert token.header["kid"] == keys.signer.kid
    assert token.header["alg"] == "RS256"
    registry = jwt.JWTClaimsRegistry(
        now=int(clock.now()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": "prometheus"},
        nonce={"essential": True, "value": "n-1"},
    )
    registry.validate(token.claims)
    c = token.claims
    assert c["sub"] == encode_subject(CLAIMS.user_id, "local")
    assert (c["iat"], c["exp"]) == (1_800_000_000, 1_800_086_400)
    assert c["email"] == "kubermatic@example.com" and c["email_verified"] is True
    assert c["groups"] == ["mygithuborg", "mygithuborg:mygroup"]
    assert (c["name"], c["preferred_username"]) == ("admin", "admin")
    assert c["federated_claims"] == {"connector_id": "local", "user_id": CLAIMS.user_id}
    digest = hashlib.sha256(b"the-access-token").digest()[:16]
    assert c["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_claims_follow_the_scopes_like_dex() -> None:
    claims = id_token.id_token_claims(issuer=ISSUER, grant=grant(("openid",), nonce=""), now=0, ttl=60)
    assert set(claims) == {"iss", "sub", "aud", "azp", "exp", "iat"}
    email_only = id_token.identity_claims(CLAIMS, "local", ("openid", "email"))
    assert set(email_only) == {"sub", "email", "email_verified"}


async def test_a_token_signed_by_another_key_does_not_verify(storage: Storage) -> None:
    from idgate.oidc.keys import generate_signing_key

    ours = await KeyRing(storage, FrozenClock(), 3600).current()
    theirs = load(SigningKeys(id="signing", keys=(generate_signing_key(0.0),), next_rotation=1.0))
    header = {"alg": "RS256", "kid": ours.signer.kid}  # claims to be ours
    forged = jwt.encode(header, {"iss": ISSUER}, theirs.signer, algorithms=["RS256"])
    published = KeySet.import_key_set(ours.jwks)  # type: ignore[arg-type]
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, published, algorithms=["RS256"])
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(id_token.sign({}, theirs), published, algorithms=["RS256"])

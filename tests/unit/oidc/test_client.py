"""The relying party's pure steps (:mod:`idgate.oidc.client`): ID token verification (OIDC Core §3.1.3.7),
discovery documents, key sets, client_secret_basic; keys and time as inputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from idgate.oidc.client import (
    IdTokenInvalid,
    ProviderUnavailable,
    UnknownSigningKey,
    basic_auth,
    parse_jwks,
    parse_metadata,
    verify_id_token,
)

ISSUER = "https://idp.example.com/dex"
NOW = 1_800_000_000.0
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
PUBLIC = parse_jwks({"keys": [RSA.as_dict(private=False), EC.as_dict(private=False)]})


def claims(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "grafana",
        "sub": "CgVhbGljZRIFbG9jYWw",
        "email": "alice@example.com",
        "email_verified": True,
        "nonce": "n-1",
        "iat": int(NOW) - 5,
        "exp": int(NOW) + 300,
        "groups": ["org", "org:team"],
        "preferred_username": "alice",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(body: dict[str, Any], key: Any = RSA, alg: str = "RS256", **header: Any) -> str:
    return jwt.encode({"alg": alg, "kid": key.kid, **header}, body, key, algorithms=[alg])


def verify(token: str, **over: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(keys=PUBLIC, issuer=ISSUER, client_id="grafana", nonce="n-1", now=NOW)
    args.update(over)
    return verify_id_token(token, **args)


def b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_good_rs256_and_es256_tokens() -> None:
    assert verify(sign(claims()))["sub"] == "CgVhbGljZRIFbG9jYWw"
    assert verify(sign(claims(), key=EC, alg="ES256"))["email"] == "alice@example.com"


def test_token_without_kid_is_checked_against_fitting_keys() -> None:
    token = jwt.encode({"alg": "RS256"}, claims(), RSA, algorithms=["RS256"])
    assert verify(token)["aud"] == "grafana"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (claims(iss="https://idp.example.com/dex/"), "iss"),
        (claims(iss="https://evil.example.com/dex"), "iss"),
        (claims(aud="prometheus"), "aud"),
        (claims(aud=["prometheus", "grafana"]), "azp"),
        (claims(aud=["prometheus", "grafana"], azp="prometheus"), "azp"),
        (claims(azp="prometheus"), "azp"),
        (claims(exp=int(NOW) - 61), "expired"),
        (claims(exp="soon"), "exp is not a number"),
        (claims(exp=1e300), "exp is out of range"),
        (claims(exp="1e300"), "exp is not a number"),
        (claims(exp=True), "exp is not a number"),
        (claims(exp=float("nan")), "exp is not a finite number"),
        (claims(exp=float("inf")), "exp is not a finite number"),
        (claims(exp=int(NOW) + 400 * 86400), "exp is too far in the future"),
        (claims(iat=int(NOW) + 61), "future"),
        (claims(iat=-1), "iat is out of range"),
        (claims(iat=None), "iat is missing"),
        (claims(nbf=float("nan")), "nbf is not a finite number"),
        (claims(nonce="other"), "nonce"),
        (claims(nonce=None), "nonce"),
        (claims(sub=""), "sub"),
    ],
)
def test_bad_claims_are_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(IdTokenInvalid, match=reason):
        verify(sign(body))


def test_leeway_applies_to_exp_and_iat() -> None:
    assert verify(sign(claims(exp=int(NOW) - 59, iat=int(NOW) + 59)))
    assert verify(sign(claims(aud=["grafana", "other"], azp="grafana")))


def test_alg_none_is_refused() -> None:
    token = f"{b64({'alg': 'none', 'kid': 'rsa-1'})}.{b64(claims())}."
    with pytest.raises(IdTokenInvalid, match="not allowed"):
        verify(token)


def test_hs256_signed_with_the_public_key_is_refused() -> None:
    secret = OctKey.import_key(json.dumps(RSA.as_dict(private=False)).encode())
    token = jwt.encode({"alg": "HS256", "kid": "rsa-1"}, claims(), secret, algorithms=["HS256"])
    with pytest.raises(IdTokenInvalid, match="not allowed"):
        verify(token)


def test_unknown_kid_asks_for_a_refetch() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "rotated"}, private=True)
    with pytest.raises(UnknownSigningKey):
        verify(sign(claims(), key=other))


def test_wrong_key_with_known_kid_is_a_bad_signature() -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
    with pytest.raises(IdTokenInvalid, match="signature") as info:
        verify(sign(claims(), key=impostor))
    assert not isinstance(info.value, UnknownSigningKey)


def test_rs256_header_on_an_ec_key_finds_no_key() -> None:
    with pytest.raises(IdTokenInvalid):
        verify(sign(claims(), key=EC, alg="ES256", **{"kid": "rsa-1"}))


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "!!.??.**", f"{b64({'alg': 'RS256'})}.x.y"])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(IdTokenInvalid):
        verify(token)


def test_discovery_issuer_must_match_exactly() -> None:
    doc = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/auth",
        "token_endpoint": ISSUER + "/token",
        "jwks_uri": ISSUER + "/keys",
    }
    assert parse_metadata(doc, ISSUER).token_endpoint == ISSUER + "/token"
    with pytest.raises(ProviderUnavailable, match="issuer"):
        parse_metadata({**doc, "issuer": ISSUER + "/"}, ISSUER)
    with pytest.raises(ProviderUnavailable, match="jwks_uri"):
        parse_metadata({**doc, "jwks_uri": "javascript:x"}, ISSUER)


def test_jwks_keeps_only_public_signature_keys() -> None:
    enc = {**RSA.as_dict(private=False), "kid": "enc", "use": "enc"}
    secret = {"kty": "oct", "k": "c2VjcmV0", "kid": "oct"}
    private = {**EC.as_dict(private=True), "kid": "private"}
    keys = parse_jwks({"keys": [enc, secret, private, {"kty": "RSA"}, RSA.as_dict(private=False)]})
    assert [k.kid for k in keys] == ["rsa-1"]


def test_client_secret_basic_form_encodes_both_parts() -> None:
    header = basic_auth("my client", "s:e/c+r%t")
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert decoded == "my+client:s%3Ae%2Fc%2Br%25t"

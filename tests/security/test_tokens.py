"""ID tokens the proxy receives, beyond ``tests/unit/oidc/test_client.py`` (which covers ``alg:
none``, HS256 keyed with the public key, wrong ``iss``/``aud``/``azp``, expiry and skew, ``nonce``, missing
``sub``, unknown ``kid`` refetch): header-borne keys (``jku``, ``x5u``, embedded ``jwk``) are ignored,
unknown ``crit`` is refused, ``kid`` tricks find no key, oversized tokens are refused, a UserInfo ``sub``
that differs is refused, and random ``kid``s cannot make the proxy refetch the JWKS more than once per
interval."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from tests.unit.oidc.test_client import NOW, PUBLIC, RSA, b64, claims, sign, verify

from idgate.oidc.client import (
    JWKS_REFETCH_INTERVAL,
    IdTokenInvalid,
    ProviderClient,
    merge_userinfo,
)

ATTACKER = RSAKey.generate_key(2048, parameters={"kid": "attacker"}, private=True)


@pytest.mark.parametrize(
    "header",
    [
        {"jwk": ATTACKER.as_dict(private=False)},
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"jwk": {**ATTACKER.as_dict(private=False), "kid": "rsa-1"}},
    ],
)
def test_header_borne_keys_are_ignored(header: dict[str, Any]) -> None:
    kid = header.get("jwk", {}).get("kid", "attacker")
    token = jwt.encode({"alg": "RS256", "kid": kid, **header}, claims(), ATTACKER, algorithms=["RS256"])
    with pytest.raises(IdTokenInvalid):
        verify(token)


def test_unknown_critical_header_is_refused() -> None:
    """Signed by the real key, but with a ``crit`` extension the verifier does not understand."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "kid": "rsa-1", "crit": ["x-unknown"], "x-unknown": 1}
    signing_input = f"{b64(header)}.{b64(claims())}".encode()
    signature = RSA.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    token = signing_input.decode() + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(IdTokenInvalid):
        verify(token)


@pytest.mark.parametrize(
    "kid", ["../../../../etc/passwd", "rsa-1' OR '1'='1", "", 7, ["rsa-1"], None, "x" * 5000]
)
def test_kid_tricks_find_no_key(kid: object) -> None:
    header: dict[str, Any] = {"alg": "RS256", "kid": kid}
    token = f"{b64(header)}.{b64(claims())}.{b64({})}"
    with pytest.raises(IdTokenInvalid):
        verify(token)


def test_oversized_tokens_are_refused_quickly() -> None:
    token = sign(claims(padding="x" * 2_000_000))
    with pytest.raises(IdTokenInvalid):
        verify(token)


def test_userinfo_with_another_sub_is_refused() -> None:
    with pytest.raises(IdTokenInvalid, match="sub"):
        merge_userinfo({"sub": "alice"}, {"sub": "mallory", "email": "ceo@example.com"})
    with pytest.raises(IdTokenInvalid):
        merge_userinfo({"sub": "alice"}, {"email": "ceo@example.com"})


def test_random_kids_cannot_cause_a_refetch_storm() -> None:
    class Clock:
        t = NOW

        def now(self) -> float:
            return self.t

    client = ProviderClient("https://idp.example.com/dex", http=None, clock=Clock())  # type: ignore[arg-type]
    client._keys, client._keys_at = PUBLIC, NOW  # type: ignore[attr-defined]
    assert not client.may_refetch_keys(NOW + 1)
    assert not client.may_refetch_keys(NOW + JWKS_REFETCH_INTERVAL - 0.001)
    assert client.may_refetch_keys(NOW + JWKS_REFETCH_INTERVAL)

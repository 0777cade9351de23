"""Pure parts of bearer tokens (which ``Authorization`` values are bearer JWTs, whose keys check them),
of UserInfo claims (OIDC Core §5.3.2) and of the sign-in state cookie's attributes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from idgate.oidc.client import IdTokenInvalid, merge_userinfo, validate_claims
from idgate.proxy.bearer import bearer_token, unverified_issuer
from idgate.proxy.cookies import CookiePolicy

NOW = 1_800_000_000.0


def b64(doc: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


JWT = f"{b64({'alg': 'RS256'})}.{b64({'iss': 'https://idp.example'})}.c2ln"


@pytest.mark.parametrize(
    ("value", "token"),
    [
        (f"Bearer {JWT}".encode(), JWT),
        (f"bearer   {JWT}  ".encode(), JWT),
        (f"BEARER {JWT}".encode(), JWT),
        (f"Bearer {JWT[:-4]}".encode(), JWT[:-4]),  # empty signature: still judged (and refused)
        (b"Bearer glsa_opaque-api-key", None),
        (b"Bearer a.b", None),
        (b"Bearer a.b.c.d", None),
        (b"Bearer a.b+c.d", None),
        (f"Basic {JWT}".encode(), None),
        (b"Bearer", None),
        (b"Bearer " + b"a" * 9000 + b"." + b"b" * 9000 + b".c", None),
    ],
)
def test_bearer_token_recognises_only_compact_jws(value: bytes, token: str | None) -> None:
    assert bearer_token(value) == token


@pytest.mark.parametrize(
    ("token", "issuer"),
    [
        (JWT, "https://idp.example"),
        (f"{b64({})}.{b64({'iss': 42})}.x", None),
        (f"{b64({})}.{b64(['iss'])}.x", None),
        ("a.%%%.c", None),
        (f"{b64({})}.bm90IGpzb24.x", None),
        ("nodots", None),
    ],
)
def test_unverified_issuer(token: str, issuer: str | None) -> None:
    assert unverified_issuer(token) == issuer


def claims(**over: Any) -> dict[str, Any]:
    base = {
        "iss": "https://idp",
        "aud": ["grafana", "kubectl"],
        "azp": "kubectl",
        "sub": "s",
        "iat": NOW,
        "exp": NOW + 60,
    }
    return {**base, **over}


def test_azp_of_another_client_is_refused_for_id_tokens_but_not_bearers() -> None:
    with pytest.raises(IdTokenInvalid, match="azp"):
        validate_claims(claims(), issuer="https://idp", client_id="grafana", nonce=None, now=NOW)
    validate_claims(claims(), issuer="https://idp", client_id="grafana", nonce=None, now=NOW, check_azp=False)
    with pytest.raises(IdTokenInvalid, match="aud"):
        validate_claims(
            claims(), issuer="https://idp", client_id="other", nonce=None, now=NOW, check_azp=False
        )


def test_nonce_is_compared_only_when_given() -> None:
    body = claims(aud="grafana", azp=None, nonce="n-1")
    validate_claims(body, issuer="https://idp", client_id="grafana", nonce=None, now=NOW)
    validate_claims(body, issuer="https://idp", client_id="grafana", nonce="n-1", now=NOW)
    with pytest.raises(IdTokenInvalid, match="nonce"):
        validate_claims(body, issuer="https://idp", client_id="grafana", nonce="n-2", now=NOW)


ID = {"iss": "https://idp", "aud": "grafana", "sub": "alice", "exp": NOW, "iat": NOW}


def test_userinfo_fills_missing_claims_and_never_token_claims() -> None:
    info = {
        "sub": "alice",
        "email": "alice@example.com",
        "email_verified": True,
        "groups": ["org"],
        "iss": "https://evil",
        "aud": "other",
        "exp": NOW + 10**9,
    }
    merged = merge_userinfo(ID, info)
    assert merged == {**ID, "email": "alice@example.com", "email_verified": True, "groups": ["org"]}


def test_id_token_claims_win_but_verification_follows_the_email() -> None:
    mine = {**ID, "email": "alice@example.com", "email_verified": False, "groups": ["a"]}
    merged = merge_userinfo(
        mine, {"sub": "alice", "email": "x@example.com", "email_verified": True, "groups": ["b"]}
    )
    assert (merged["email"], merged["email_verified"], merged["groups"]) == (
        "alice@example.com",
        False,
        ["a"],
    )
    only_verified = {**ID, "email_verified": False}
    merged = merge_userinfo(only_verified, {"sub": "alice", "email": "a@example.com", "email_verified": True})
    assert merged["email_verified"] is True  # the address came from userinfo, so does its verification
    custom = merge_userinfo(
        ID, {"sub": "alice", "mail": "a@example.com", "email_verified": True}, email_claim="mail"
    )
    assert custom["mail"] == "a@example.com" and custom["email_verified"] is True


@pytest.mark.parametrize("sub", ["mallory", None, 7])
def test_userinfo_about_another_subject_is_refused(sub: object) -> None:
    with pytest.raises(IdTokenInvalid, match="sub"):
        merge_userinfo(ID, {"sub": sub, "email": "alice@example.com"})


@pytest.mark.parametrize(
    ("samesite", "login"), [("strict", "lax"), ("lax", "lax"), ("none", "none"), ("", "")]
)
def test_state_cookie_keeps_domain_path_secure_and_relaxes_strict(samesite: str, login: str) -> None:
    policy = CookiePolicy(domain="example.com", path="/app", httponly=False, samesite=samesite, secure=True)
    state = policy.for_login()
    assert (state.domain, state.path, state.secure, state.httponly) == ("example.com", "/app", True, True)
    assert state.samesite == login


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("__Host-app", (None, "/", True)),
        ("__HOST-app", (None, "/", True)),  # prefixes match in any letter case, as in browsers
        ("__Secure-app", ("test", "/app", True)),
        ("app", ("test", "/app", False)),
    ],
)
def test_cookie_name_prefix_decides_domain_path_and_secure(
    name: str, expected: tuple[str | None, str, bool]
) -> None:
    from idgate.settings import ProxySettings

    p = ProxySettings(
        name="app",
        host="app.test",
        upstream="http://127.0.0.1:1",
        issuer_url="http://idp.test/dex",
        client_id="app",
        client_secret="s",
        encryption_key=b"k" * 32,
        cookie_name=name,
        cookie_domains=("test",),
        cookie_path="/app",
        cookie_secure=False,
    )
    for policy in (CookiePolicy.of(p), CookiePolicy.of(p).for_login()):
        assert (policy.domain, policy.path, policy.secure) == expected
    header = CookiePolicy.of(p).header(f"{name}_0", "v", max_age=60, proto="http")
    assert ("Secure" in header.split("; ")) is expected[2]

"""``skip_jwt_bearer_tokens`` / ``extra_jwt_issuers`` through the edge, with tokens signed by the test
provider's real keys and checked against its JWKS (fetched by discovery)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey, RSAKey
from tests.integration.proxy.edge_world import EdgeWorld, edge_world
from tests.integration.proxy.oidc_double import OIDCDouble
from tests.unit.edge.conftest import Response

CURL = "User-Agent: curl/8.5.0\r\nAccept: */*\r\n"


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}\r\n"


async def get(w: EdgeWorld, path: str, headers: str) -> Response:
    c = await w.client()
    try:
        return await c.get(path, headers=headers)
    finally:
        await c.close()


def assert_invalid_token(r: Response, w: EdgeWorld) -> None:
    assert r.status == 401, (r.status, r.body[:200])
    assert r.header("WWW-Authenticate") == 'Bearer error="invalid_token"'
    assert r.json() == {"error": "invalid_token"}
    assert w.upstream.requests == []


async def test_curl_with_a_valid_token_reaches_the_upstream_with_identity(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        token = w.idp.mint(w.idp.token_claims())
        r = await get(w, "/api/v1/query?q=up", CURL + bearer(token))
        assert r.status == 200, r.body
        assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        assert r.upstream_header("X-Forwarded-User") == ["alice-id"]
        assert r.upstream_header("X-Forwarded-Groups") == ["org,org:team"]
        assert r.upstream_header("Authorization") == [f"Bearer {token}"]  # the upstream's business
        assert len(r.upstream_header("X-Idgate-Assertion")) == 1
        again = await get(w, "/api/v1/query", CURL + bearer(token))
        assert again.status == 200
        assert w.idp.jwks_fetches == 1  # keys cached per issuer, the verified token memoised


async def test_es256_token_is_accepted(tmp_path: Path) -> None:
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        w.idp.signing_key = ec  # type: ignore[assignment]
        token = w.idp.mint(w.idp.token_claims(), alg="ES256")
        assert (await get(w, "/x", CURL + bearer(token))).status == 200


async def test_refused_tokens_get_401_invalid_token(tmp_path: Path) -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)  # same kid, other key
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        idp, now = w.idp, int(w.idp.now)
        cases: dict[str, str] = {
            "wrong aud": idp.mint(idp.token_claims(aud="prometheus")),
            "wrong iss": idp.mint(idp.token_claims(iss="https://evil.example")),
            "issuer's name, other key": idp.mint(idp.token_claims(), key=other),
            "expired": idp.mint(idp.token_claims(iat=now - 900, exp=now - 61)),
            "not yet valid": idp.mint(idp.token_claims(nbf=now + 300)),
            "issued in the future": idp.mint(idp.token_claims(iat=now + 300, exp=now + 900)),
            "no iat": idp.mint(idp.token_claims(iat=None)),
            "email not verified": idp.mint(idp.token_claims(email_verified=False)),
            "no email": idp.mint(idp.token_claims(email=None)),
            "alg none": unsigned(idp.token_claims()),
            "HS256 keyed with the public key": hs256_with_public_key(idp),
            "tampered payload": tamper(idp.mint(idp.token_claims()), email="ceo@example.com"),
        }
        for name, token in cases.items():
            r = await get(w, "/api/x", CURL + bearer(token))
            assert r.status == 401, name
            assert_invalid_token(r, w)


async def test_extra_issuer_with_its_audience(tmp_path: Path) -> None:
    ci = OIDCDouble(client_id="ci-runner")
    await ci.start()
    try:
        async with edge_world(
            tmp_path, skip_jwt_bearer_tokens=True, extra_jwt_issuers=((ci.issuer, "grafana-api"),)
        ) as w:
            good = ci.mint(ci.token_claims(aud="grafana-api", email="ci@example.com"))
            r = await get(w, "/api/x", CURL + bearer(good))
            assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == ["ci@example.com"]
            # the extra issuer's tokens must name its audience, not the deployment's client id
            w.upstream.requests.clear()
            assert_invalid_token(await get(w, "/api/x", CURL + bearer(ci.mint(ci.token_claims()))), w)
            # and the deployment's issuer does not accept the extra issuer's audience
            wrong = w.idp.mint(w.idp.token_claims(aud="grafana-api"))
            assert_invalid_token(await get(w, "/api/x", CURL + bearer(wrong)), w)
            assert ci.jwks_fetches == 1
    finally:
        await ci.close()


async def test_bearer_tokens_are_ignored_unless_enabled(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        token = w.idp.mint(w.idp.token_claims())
        r = await get(w, "/api/x", "Accept: application/json\r\n" + bearer(token))
        assert r.status == 401 and r.header("WWW-Authenticate") is None  # the ordinary "no session"
        assert w.idp.jwks_fetches == 0


async def test_a_presented_token_is_judged_alone_never_the_cookie(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        cookie = await w.cookie()
        bad = w.idp.mint(w.idp.token_claims(aud="prometheus"))
        assert_invalid_token(await get(w, "/x", "Accept: text/html\r\n" + cookie + bearer(bad)), w)
        # an Authorization that is not a bearer JWT is the upstream's: the cookie decides
        r = await get(w, "/x", cookie + "Authorization: Bearer glsa_opaque-api-key\r\n")
        assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        assert r.upstream_header("Authorization") == ["Bearer glsa_opaque-api-key"]
        # a valid token wins over the cookie, whose session cookie is not sent upstream
        token = w.idp.mint(w.idp.token_claims(sub="bob-id", email="bob@example.com"))
        r = await get(w, "/x", cookie + "Cookie: theme=dark\r\n" + bearer(token))
        assert r.upstream_header("X-Forwarded-Email") == ["bob@example.com"]
        assert r.upstream_header("Cookie") == ["theme=dark"]


async def test_skip_auth_paths_pass_even_with_a_bad_token(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        r = await get(w, "/-/healthy", CURL + bearer(unsigned(w.idp.token_claims())))
        assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == []


async def test_policy_still_applies_to_bearer_sessions(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True, allowed_groups=("org:admins",)) as w:
        r = await get(w, "/x", CURL + bearer(w.idp.mint(w.idp.token_claims())))
        assert r.status == 403 and b"not_in_allowed_groups" in r.body


async def test_unverified_email_accepted_with_the_insecure_option(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True, insecure_allow_unverified_email=True) as w:
        token = w.idp.mint(w.idp.token_claims(email_verified=None))
        assert (await get(w, "/x", CURL + bearer(token))).status == 200


async def test_expired_memo_entry_is_refused(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        token = w.idp.mint(w.idp.token_claims())
        assert (await get(w, "/x", CURL + bearer(token))).status == 200
        w.clock.advance(600 + 61)
        w.upstream.requests.clear()
        assert_invalid_token(await get(w, "/x", CURL + bearer(token)), w)


async def test_rotated_key_is_fetched_once_then_rate_limited(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        assert (await get(w, "/x", CURL + bearer(w.idp.mint(w.idp.token_claims())))).status == 200
        w.clock.advance(61)
        w.idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)
        assert (await get(w, "/x", CURL + bearer(w.idp.mint(w.idp.token_claims())))).status == 200
        assert w.idp.jwks_fetches == 2
        w.upstream.requests.clear()
        unknown = RSAKey.generate_key(2048, parameters={"kid": "k3"}, private=True)
        for _ in range(3):  # unknown kids cannot make the proxy hammer the provider
            assert_invalid_token(
                await get(w, "/x", CURL + bearer(w.idp.mint(w.idp.token_claims(), key=unknown))), w
            )
        assert w.idp.jwks_fetches == 2


async def test_oauth_auth_accepts_bearer_tokens(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        r = await get(w, "/oauth/auth", bearer(w.idp.mint(w.idp.token_claims())))
        assert r.status == 202 and r.header("X-Auth-Request-Email") == "alice@example.com"
        r = await get(w, "/oauth/auth", bearer(w.idp.mint(w.idp.token_claims(aud="x"))))
        assert r.status == 401


async def test_pass_authorization_header_forwards_the_token(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True, pass_authorization_header=True) as w:
        token = w.idp.mint(w.idp.token_claims())
        r = await get(w, "/x", CURL + bearer(token))
        assert r.upstream_header("Authorization") == [f"Bearer {token}"]


async def test_provider_unreachable_for_keys_is_503(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True) as w:
        token = w.idp.mint(w.idp.token_claims())
        await w.idp.close()
        r = await get(w, "/x", CURL + bearer(token))
        assert r.status == 503 and w.upstream.requests == []


# -- forged tokens ---------------------------------------------------------------------------------
def _b64(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def hs256_with_public_key(idp: OIDCDouble) -> str:
    """The classic key-confusion forgery: HMAC keyed with the provider's public RSA key (PEM), made by
    hand since joserfc refuses to build it."""
    public = idp.signing_key.get_op_key("verify")
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64({'alg': 'HS256', 'kid': idp.signing_key.kid})}.{_b64(idp.token_claims())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def tamper(token: str, **changes: Any) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{head}.{_b64({**claims, **changes})}.{sig}"

"""The hot path end to end: cookie -> session -> policy -> identity headers at the upstream."""

from __future__ import annotations

import json

import pytest
from tests.unit.edge.conftest import NOW, Client, Env, alice, seal

from idgate.sessions.sealing import split_chunks

BROWSER = "Accept: text/html,application/xhtml+xml\r\n"


def cookie(value: str, extra: str = "") -> str:
    return f"Cookie: {extra}app_oauth2_proxy={value}\r\n"


async def test_valid_cookie_passes_identity_and_path_query_unchanged(env: Env, client: Client) -> None:
    r = await client.get("/api/v1/query?q=up%7B%7D&x=/a/../b", headers=cookie(seal(alice())))
    assert r.status == 200
    assert r.json()["raw_path"] == "/api/v1/query?q=up%7B%7D&x=/a/../b"
    assert r.upstream_header("X-Forwarded-User") == ["alice-sub"]
    assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
    assert r.upstream_header("X-Forwarded-Groups") == ["org,org:team"]
    assert r.upstream_header("X-Forwarded-Preferred-Username") == ["alice"]
    assert r.upstream_header("Host") == ["app.test"]


async def test_forged_identity_headers_never_reach_upstream(env: Env, client: Client) -> None:
    forged = (
        "X-Forwarded-Email: boss@example.com\r\nx_forwarded_email: boss@example.com\r\n"
        "X-FORWARDED-USER: boss\r\nX-Auth-Request-Email: boss@example.com\r\n"
        "X-Forwarded-Groups: admins\r\nX_Forwarded_Preferred_Username: boss\r\n"
        "X-Forwarded-Access-Token: t\r\nX-Idgate-Anything: 1\r\n"
    )
    r = await client.get("/", headers=forged + cookie(seal(alice())))
    seen = {k.lower().replace("_", "-"): v for k, v in r.json()["headers"]}  # type: ignore[union-attr]
    assert seen["x-forwarded-email"] == "alice@example.com"
    assert seen["x-forwarded-user"] == "alice-sub"
    assert seen["x-forwarded-groups"] == "org,org:team"
    assert "x-auth-request-email" not in seen and "x-forwarded-access-token" not in seen
    assert "x-idgate-anything" not in seen
    assert len(r.upstream_header("X-Forwarded-Email")) == 1
    assert r.upstream_header("x_forwarded_email") == []


async def test_proxy_cookies_removed_other_cookies_kept(env: Env, client: Client) -> None:
    r = await client.get("/", headers=cookie(seal(alice()), "theme=dark; app_oauth2_proxy_csrf=zzz; ") + "")
    assert r.upstream_header("Cookie") == ["theme=dark"]
    r = await client.get("/", headers=cookie(seal(alice())))
    assert r.upstream_header("Cookie") == []


async def test_chunked_cookie_is_reassembled(env: Env, client: Client) -> None:
    big = alice(groups=tuple(f"group-{i:04d}" for i in range(400)))
    chunks = split_chunks("app_oauth2_proxy", seal(big))
    assert len(chunks) > 1
    header = "Cookie: " + "; ".join(f"{k}={v}" for k, v in chunks) + "; keep=1\r\n"
    r = await client.get("/", headers=header)
    assert r.status == 200
    assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
    assert r.upstream_header("Cookie") == ["keep=1"]


@pytest.mark.parametrize(
    "value",
    [
        seal(alice())[:-3] + "AAA",  # tampered
        seal(alice(), name="other_cookie"),  # sealed for another cookie
        seal(alice(), key=b"k" * 32),  # another key
        seal(alice(expires_at=NOW)),  # expired
        "garbage",
    ],
)
async def test_bad_cookie_is_no_session(env: Env, client: Client, value: str) -> None:
    r = await client.get("/x?y=1", headers=BROWSER + cookie(value))
    assert r.status == 302
    assert r.header("Location") == "/oauth/start?rd=%2Fx%3Fy%3D1"
    r = await client.get("/x", headers="Accept: application/json\r\n" + cookie(value))
    assert r.status == 401
    assert json.loads(r.body) == {"error": "unauthorized", "request_id": r.header("X-Request-Id")}
    r = await client.get("/x", headers="X-Requested-With: XMLHttpRequest\r\n" + cookie(value))
    assert r.status == 401
    assert env.upstream.requests == []


async def test_memoised_session_expires(env: Env, client: Client) -> None:
    value = seal(alice(expires_at=NOW + 60))
    assert (await client.get("/", headers=cookie(value))).status == 200
    env.clock.advance(61)
    assert (await client.get("/", headers=BROWSER + cookie(value))).status == 302


async def test_skip_auth_regex_matches_normalised_path_only(env: Env, client: Client) -> None:
    r = await client.get("/-/healthy", headers="X-Forwarded-Email: boss@example.com\r\n")
    assert r.status == 200
    assert r.upstream_header("X-Forwarded-Email") == []
    assert (await client.get("/x?y=/-/healthy", headers=BROWSER)).status == 302
    assert (await client.get("/-/healthy/../admin", headers=BROWSER)).status == 302
    assert (await client.get("/-/healthy/%2e%2e/admin", headers=BROWSER)).status == 302
    assert (await client.get("/-/healthy%2F..%2Fadmin", headers=BROWSER)).status == 302
    assert (await client.get("/./-/healthy", headers=BROWSER)).status == 200
    assert [r["raw_path"] for r in env.upstream.requests] == ["/-/healthy", "/./-/healthy"]


async def test_refused_gets_403_page_with_reason(env: Env, client: Client) -> None:
    r = await client.get("/", headers=BROWSER + cookie(seal(alice(email="bob@evilexample.com"))))
    assert r.status == 403
    assert b"email_domain_not_allowed" in r.body
    r = await client.get("/", headers=BROWSER + cookie(seal(alice(email_verified=False))))
    assert r.status == 403 and b"email_not_verified" in r.body
    assert env.upstream.requests == []


class TestGithubTeam:
    @pytest.fixture
    def proxy_overrides(self) -> dict[str, object]:
        return {"github_org": "Org", "github_team": "team"}

    async def test_github_team_decides(self, env: Env, client: Client) -> None:
        assert (await client.get("/", headers=cookie(seal(alice())))).status == 200
        r = await client.get("/", headers=cookie(seal(alice(groups=("org",)))))
        assert r.status == 403 and b"github_team_not_allowed" in r.body
        r = await client.get("/", headers=cookie(seal(alice(groups=("other",)))))
        assert r.status == 403 and b"github_org_not_allowed" in r.body


async def test_header_injection_through_claims_is_impossible(env: Env, client: Client) -> None:
    evil = alice(preferred_username="x\r\nX-Forwarded-Email: boss@example.com", groups=("org:team", "a\nb"))
    r = await client.get("/", headers=cookie(seal(evil)))
    assert r.status == 200
    assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
    assert r.upstream_header("X-Forwarded-Preferred-Username") == []
    assert r.upstream_header("X-Forwarded-Groups") == ["org:team"]

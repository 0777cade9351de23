"""What a refresh's answer does to the session (issue 18): an invalid answer ends it at once; only a
provider that cannot be reached keeps it, for ``refresh_grace`` past its refresh point, then it ends.

Over real sockets: the edge, the sign-in app, the test OIDC provider (its refreshed ID token broken one
claim at a time, or signed with another key) and the echoing upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from tests.integration.proxy.edge_world import EdgeWorld, edge_world, set_cookies
from tests.integration.proxy.test_bearer_tokens import get
from tests.unit.edge.conftest import NOW, Response, alice

from idgate.sessions.base import Session

SESSION = "app_oauth2_proxy"
BROWSER = "Accept: text/html\r\n"
API = "Accept: application/json\r\n"


def stale(**over: object) -> Session:
    """The provider's person, signed in two minutes ago with ``cookie_refresh`` 1 min: due for refresh."""
    return alice(user="alice-id", refresh_token="rt-old", created_at=NOW - 120, sid="sid-1", **over)


def assert_ended(r: Response, w: EdgeWorld, status: int) -> None:
    """Refused, the cookie cleared, nothing forwarded: the person must sign in again."""
    assert r.status == status, (r.status, r.body[:200])
    assert "Max-Age=0" in set_cookies(r)[SESSION]
    if status == 302:
        assert (r.header("Location") or "").startswith("/oauth/start?rd=")
    assert w.upstream.requests == []


OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)  # the provider's kid


@pytest.mark.parametrize(
    ("claims", "key"),
    [
        ({"iss": "https://evil.example"}, None),
        ({"aud": "another-client"}, None),
        ({"sub": "mallory-id"}, None),
        ({"exp": 1e300}, None),
        ({"iat": NOW + 3600}, None),
        ({"email_verified": False}, None),
        ({}, OTHER_KEY),  # the provider's kid, another key: a bad signature
    ],
    ids=["iss", "aud", "sub", "exp 1e300", "iat ahead", "email unverified", "signature"],
)
async def test_an_invalid_refresh_answer_ends_the_session(
    tmp_path: Path, claims: dict[str, Any], key: RSAKey | None
) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0) as w:
        w.idp.refresh_tokens = True
        w.idp.refresh_claims = claims
        w.idp.refresh_key = key
        w.idp.claims["groups"] = ["org"]  # removed from the team: the old identity must not stay
        cookie = await w.cookie(stale())
        assert_ended(await get(w, "/x", BROWSER + cookie), w, 302)
        assert w.idp.refreshes == 1
        # the same cookie again (another tab, a copy): refused (its id is revoked), the provider not asked
        again = await get(w, "/x", API + cookie)
        assert again.status == 401 and w.upstream.requests == [] and w.idp.refreshes == 1


async def test_a_valid_refresh_answer_keeps_the_session_and_its_id(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0) as w:
        w.idp.refresh_tokens = True
        r = await get(w, "/x", await w.cookie(stale()))
        assert r.status == 200 and w.idp.refreshes == 1
        value = set_cookies(r)[SESSION].split(";", 1)[0].split("=", 1)[1]
        fresh = await w.services.store.fetch(value, w.clock.now())
        assert fresh is not None and fresh.sid == "sid-1"  # sign-out of the new cookie ends the old


async def test_an_unreachable_provider_keeps_the_session_for_the_grace_then_ends_it(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0, refresh_grace=300.0) as w:
        w.idp.refresh_tokens = True
        w.idp.down = True  # the token endpoint answers 503
        session = stale()
        cookie = await w.cookie(session)
        due = session.created_at + 60.0
        r = await get(w, "/x", cookie)
        assert r.status == 200 and set_cookies(r) == {}  # kept: the provider is unreachable
        w.clock.set(due + 299.0)
        r = await get(w, "/y", cookie)
        assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        w.upstream.requests.clear()
        w.clock.set(due + 300.0)  # the grace is over: the session ends, sign in again
        assert_ended(await get(w, "/z", BROWSER + cookie), w, 302)


async def test_a_provider_back_within_the_grace_refreshes_the_session(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0, refresh_grace=300.0) as w:
        w.idp.refresh_tokens = True
        w.idp.down = True
        cookie = await w.cookie(stale())
        assert (await get(w, "/x", cookie)).status == 200
        w.idp.down = False
        w.clock.advance(31.0)  # past the time a kept result answers the same cookie
        r = await get(w, "/y", cookie)
        assert r.status == 200 and SESSION in set_cookies(r)

"""The oidc connector against the fake OpenID Connect provider (``tests/fakes/oidc.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from tests.conformance.connectors import CALLBACK, SCOPES, Refreshes, sign_in
from tests.fakes.oidc import FakeOIDC
from tests.fakes.server import serve

from idgate.clock import SystemClock
from idgate.connectors.errors import LoginRefused, UpstreamFailed
from idgate.connectors.http import pkce_challenge
from idgate.connectors.oidc import OIDCConfig, OIDCConnector

USERS = {
    "alice": {
        "sub": "u-alice",
        "name": "Alice Liddell",
        "email": "alice@example.com",
        "email_verified": True,
        "preferred_username": "alice",
        "groups": ["admins", "devs"],
        "login": "ali",
        "mail": "alice@corp.example",
        "roles": "ops",
    },
    "eve": {"sub": "u-eve", "name": "Eve", "email": "eve@example.com"},  # no email_verified
}


class Driver:
    expected_user_id = "u-alice"
    expected_email = "alice@example.com"
    expected_groups = ("admins", "devs")

    def __init__(self, fake: FakeOIDC) -> None:
        self.fake = fake

    def allow(self) -> None:
        self.fake.login_as = "alice"

    def refuse(self) -> None:
        raise NotImplementedError

    def lose_access(self) -> None:
        self.fake.revoke("alice")


@pytest.fixture
def fake() -> FakeOIDC:
    return FakeOIDC(users={k: dict(v) for k, v in USERS.items()})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def origin(fake: FakeOIDC) -> AsyncIterator[str]:
    async with serve(fake.app()) as url:
        fake.issuer = url
        yield url


async def make(origin: str, http: aiohttp.ClientSession, **config: Any) -> OIDCConnector:
    base = {
        "issuer": origin,
        "clientID": "oidc-client",
        "clientSecret": "oidc-secret",
        "insecureEnableGroups": True,
    }
    conn = OIDCConnector(
        "upstream", "Upstream", OIDCConfig.model_validate({**base, **config}), http, SystemClock()
    )
    await conn.prepare()
    return conn


class TestOIDCConformance(Refreshes):
    @pytest.fixture
    async def connector(self, origin: str, http: aiohttp.ClientSession) -> AsyncIterator[Any]:
        yield await make(origin, http)

    @pytest.fixture
    def upstream(self, fake: FakeOIDC) -> Driver:
        return Driver(fake)


async def login(
    conn: OIDCConnector, fake: FakeOIDC, who: str = "alice", scopes: tuple[str, ...] = SCOPES
) -> Any:
    fake.login_as = who
    return await conn.handle_callback(scopes, CALLBACK, await sign_in(conn, scopes=scopes))


async def test_sends_nonce_pkce_and_prompt(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(origin, http)
    url = conn.login_url(SCOPES, CALLBACK, "st-1")
    q = dict(parse_qsl(urlsplit(url).query))
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["nonce"]) == 43 and q["prompt"] == "consent"
    assert q["scope"] == "openid profile email offline_access"
    other = dict(parse_qsl(urlsplit(conn.login_url(SCOPES, CALLBACK, "st-2")).query))
    assert other["nonce"] != q["nonce"] and other["code_challenge"] != q["code_challenge"]
    assert "nonce" not in pkce_challenge(q["nonce"])


async def test_wrong_nonce_is_rejected(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    fake.nonce_override = "someone-elses"
    with pytest.raises(UpstreamFailed, match="nonce"):
        await login(await make(origin, http), fake)


async def test_state_swapped_breaks_pkce(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(origin, http)
    fake.login_as = "alice"
    query = await sign_in(conn, state="state-one")
    with pytest.raises(Exception, match="invalid_grant"):
        await conn.handle_callback(SCOPES, CALLBACK, {**query, "state": "state-two"})


async def test_claim_mapping_and_keys(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(
        origin,
        http,
        userIDKey="email",
        userNameKey="login",
        claimMapping={"preferred_username": "login", "email": "mail", "groups": "roles"},
    )
    identity = await login(conn, fake)
    assert identity.user_id == "alice@example.com"
    assert (identity.username, identity.preferred_username, identity.email) == (
        "ali",
        "ali",
        "alice@corp.example",
    )
    assert identity.groups == ("ops",)


async def test_groups_only_when_enabled(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    assert (await login(await make(origin, http, insecureEnableGroups=False), fake)).groups == ()


async def test_missing_email_verified(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    with pytest.raises(UpstreamFailed, match="email_verified"):
        await login(await make(origin, http), fake, "eve")
    identity = await login(await make(origin, http, insecureSkipEmailVerified=True), fake, "eve")
    assert identity.email_verified is True


async def test_userinfo_is_merged(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    fake.userinfo_claims = lambda login: {"sub": "u-alice", "name": "Alice from userinfo"}  # type: ignore[method-assign]
    identity = await login(await make(origin, http, getUserInfo=True), fake)
    assert identity.username == "Alice from userinfo"


async def test_overrides_and_prompt(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(
        origin,
        http,
        promptType="",
        providerDiscoveryOverrides={"authURL": "https://elsewhere.example/authorize"},
    )
    url = conn.login_url(SCOPES, CALLBACK, "s")
    assert url.startswith("https://elsewhere.example/authorize?") and "prompt=" not in url


async def test_no_refresh_token_without_offline_access(
    origin: str, http: aiohttp.ClientSession, fake: FakeOIDC
) -> None:
    conn = await make(origin, http)
    identity = await login(conn, fake, scopes=("openid", "email"))
    with pytest.raises(LoginRefused, match="refresh token"):
        await conn.refresh(("openid", "email"), identity)


async def test_unreachable_issuer_fails_closed(http: aiohttp.ClientSession) -> None:
    conn = OIDCConnector("u", "U", OIDCConfig(issuer="http://127.0.0.1:1", clientID="c"), http, SystemClock())
    with pytest.raises(UpstreamFailed, match="unreachable"):
        await conn.prepare()
    with pytest.raises(UpstreamFailed, match="not been reached"):
        conn.login_url(SCOPES, CALLBACK, "s")

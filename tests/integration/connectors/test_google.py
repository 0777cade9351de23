"""The google connector against the fake Google (``tests/fakes/google.py``): ``hd``, Directory groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from tests.conformance.callback_connectors import CALLBACK, SCOPES, Refreshes, RefusesPeople, sign_in
from tests.fakes.google import FakeGoogle
from tests.fakes.server import serve

from idgate.clock import SystemClock
from idgate.connectors.errors import LoginRefused
from idgate.connectors.google import GoogleConfig, GoogleConnector, ServiceAccount


def person(sub: str, email: str, hd: str | None) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": sub,
        "email": email,
        "email_verified": True,
        "name": email.split("@", maxsplit=1)[0],
    }
    if hd:
        claims["hd"] = hd
    return claims


USERS = {
    "alice": person("1111", "alice@example.com", "example.com"),
    "gmail": person("2222", "someone@gmail.com", None),
    "other": person("3333", "bob@other.example", "other.example"),
    "nogroup": person("4444", "carl@example.com", "example.com"),
}


class Driver:
    expected_user_id = "1111"
    expected_email = "alice@example.com"
    expected_groups = ("sre@example.com",)

    def __init__(self, fake: FakeGoogle) -> None:
        self.fake = fake

    def allow(self) -> None:
        self.fake.login_as = "alice"

    def refuse(self) -> None:
        self.fake.login_as = "gmail"

    def lose_access(self) -> None:
        self.fake.memberships["alice@example.com"] = ["random@example.com"]

    def send_email(self, email: str) -> None:
        self.fake.users["alice"]["email"] = email


@pytest.fixture
def fake() -> FakeGoogle:
    return FakeGoogle(
        users={k: dict(v) for k, v in USERS.items()},
        admins={"admin@example.com"},
        memberships={
            "alice@example.com": ["all@example.com", "sre@example.com", "devs@example.com"],
            "carl@example.com": ["all@example.com"],
        },
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def origin(fake: FakeGoogle) -> AsyncIterator[str]:
    async with serve(fake.app()) as url:
        fake.issuer = url
        yield url


async def make(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp: Path, **config: Any
) -> GoogleConnector:
    base: dict[str, Any] = {
        "clientID": "google-client",
        "clientSecret": "google-secret",
        "hostedDomains": ["example.com"],
        "groups": ["sre@example.com", "devs@example.com"],
        "serviceAccountFilePath": str(fake.key_file(tmp / "sa.json")),
        "domainToAdminEmail": {"example.com": "admin@example.com"},
    }
    cfg = GoogleConfig.model_validate({**base, **config})
    account = ServiceAccount.from_file(cfg.serviceAccountFilePath) if cfg.serviceAccountFilePath else None
    conn = GoogleConnector(
        "google",
        "Google",
        cfg,
        http,
        SystemClock(),
        service_account=account,
        issuer=origin,
        directory_url=f"{origin}/admin/directory/v1",
    )
    await conn.prepare()
    return conn


class TestGoogleConformance(RefusesPeople, Refreshes):
    @pytest.fixture
    async def connector(
        self, origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
    ) -> AsyncIterator[Any]:
        yield await make(origin, http, fake, tmp_path)

    @pytest.fixture
    def upstream(self, fake: FakeGoogle) -> Driver:
        return Driver(fake)


async def login(conn: GoogleConnector, fake: FakeGoogle, who: str) -> Any:
    fake.login_as = who
    return await conn.handle_callback(SCOPES, CALLBACK, await sign_in(conn))


async def test_login_url(origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path) -> None:
    conn = await make(origin, http, fake, tmp_path)
    q = dict(parse_qsl(urlsplit(conn.login_url(SCOPES, CALLBACK, "s")).query))
    assert q["hd"] == "example.com" and q["access_type"] == "offline"
    assert "offline_access" not in q["scope"]


async def test_hd_is_checked_not_just_requested(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
) -> None:
    conn = await make(origin, http, fake, tmp_path)
    with pytest.raises(LoginRefused, match=r"bob@other.example is in 'other.example', not in example.com"):
        await login(conn, fake, "other")


async def test_groups_filtered_and_paged(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
) -> None:
    identity = await login(await make(origin, http, fake, tmp_path), fake, "alice")
    assert identity.groups == ("sre@example.com", "devs@example.com")
    identity = await login(await make(origin, http, fake, tmp_path, groups=[]), fake, "alice")
    assert identity.groups == ("all@example.com", "sre@example.com", "devs@example.com")


async def test_not_in_required_groups(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
) -> None:
    with pytest.raises(LoginRefused, match="none of the groups"):
        await login(await make(origin, http, fake, tmp_path), fake, "nogroup")


async def test_admin_not_delegated_fails(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
) -> None:
    conn = await make(origin, http, fake, tmp_path, domainToAdminEmail={"*": "nobody@example.com"})
    with pytest.raises(Exception, match="unauthorized_client"):
        await login(conn, fake, "alice")


async def test_without_service_account_no_groups(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
) -> None:
    conn = await make(origin, http, fake, tmp_path, groups=[], serviceAccountFilePath="", hostedDomains=[])
    assert (await login(conn, fake, "gmail")).groups == ()


async def test_fetch_transitive_group_membership(
    origin: str, http: aiohttp.ClientSession, fake: FakeGoogle, tmp_path: Path
) -> None:
    fake.memberships.update(
        {
            "sre@example.com": ["oncall@example.com", "all@example.com"],
            "oncall@example.com": ["sre@example.com"],  # a cycle ends: each group is listed once
        }
    )
    direct = await make(origin, http, fake, tmp_path, groups=[])
    assert (await login(direct, fake, "alice")).groups == (
        "all@example.com",
        "sre@example.com",
        "devs@example.com",
    )
    assert set(fake.listed) == {"alice@example.com"}
    with pytest.raises(LoginRefused, match="none of the groups"):
        await login(await make(origin, http, fake, tmp_path, groups=["oncall@example.com"]), fake, "alice")

    fake.listed.clear()
    nested = await make(origin, http, fake, tmp_path, groups=[], fetchTransitiveGroupMembership=True)
    assert (await login(nested, fake, "alice")).groups == (
        "all@example.com",
        "sre@example.com",
        "oncall@example.com",
        "devs@example.com",
    )
    assert fake.listed.count("alice@example.com") == 3  # page size 1: every page of every list is read
    assert {"sre@example.com", "oncall@example.com", "all@example.com", "devs@example.com"} <= set(
        fake.listed
    )
    only = await make(
        origin, http, fake, tmp_path, groups=["oncall@example.com"], fetchTransitiveGroupMembership=True
    )
    assert (await login(only, fake, "alice")).groups == ("oncall@example.com",)
    identity = await login(only, fake, "alice")
    fake.memberships["sre@example.com"] = []
    with pytest.raises(LoginRefused, match="none of the groups"):
        await only.refresh(SCOPES, identity)  # refresh re-reads the nested groups

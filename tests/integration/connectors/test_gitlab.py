"""The gitlab connector against the fake GitLab (``tests/fakes/gitlab.py``)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from tests.conformance.callback_connectors import CALLBACK, SCOPES, Refreshes, RefusesPeople, sign_in
from tests.fakes.gitlab import FakeGitLab, GitLabUser
from tests.fakes.server import serve

from idgate.connectors.errors import LoginRefused
from idgate.connectors.gitlab import GitLabConfig, GitLabConnector

ALICE = GitLabUser(
    id=42,
    username="alice",
    name="Alice",
    email="alice@example.com",
    groups=["kubermatic", "kubermatic/sre", "hobby"],
    roles={"kubermatic": "owner", "kubermatic/sre": "developer"},
)
BOB = GitLabUser(id=43, username="bob", name="Bob", email="bob@example.com", groups=["hobby"])


class Driver:
    expected_user_id = "42"
    expected_email = "alice@example.com"
    expected_groups = ("kubermatic", "kubermatic/sre")

    def __init__(self, fake: FakeGitLab) -> None:
        self.fake = fake

    def allow(self) -> None:
        self.fake.login_as = "alice"

    def refuse(self) -> None:
        self.fake.login_as = "bob"

    def lose_access(self) -> None:
        self.fake.users["alice"].groups = ["hobby"]

    def send_email(self, email: str) -> None:
        self.fake.users["alice"].email = email


@pytest.fixture
def fake() -> FakeGitLab:
    return FakeGitLab(users={u.username: copy.deepcopy(u) for u in (ALICE, BOB)})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def origin(fake: FakeGitLab) -> AsyncIterator[str]:
    async with serve(fake.app()) as url:
        yield url


def make(origin: str, http: aiohttp.ClientSession, **config: Any) -> GitLabConnector:
    base = {
        "baseURL": origin,
        "clientID": "gl-client",
        "clientSecret": "gl-secret",
        "groups": ["kubermatic", "kubermatic/sre"],
    }
    return GitLabConnector("gitlab", "GitLab", GitLabConfig.model_validate({**base, **config}), http)


class TestGitLabConformance(RefusesPeople, Refreshes):
    @pytest.fixture
    async def connector(self, origin: str, http: aiohttp.ClientSession) -> AsyncIterator[Any]:
        yield make(origin, http)

    @pytest.fixture
    def upstream(self, fake: FakeGitLab) -> Driver:
        return Driver(fake)


async def login(conn: GitLabConnector, fake: FakeGitLab, who: str, scopes: tuple[str, ...] = SCOPES) -> Any:
    fake.login_as = who
    return await conn.handle_callback(scopes, CALLBACK, await sign_in(conn, scopes=scopes))


async def test_permissions(origin: str, http: aiohttp.ClientSession, fake: FakeGitLab) -> None:
    identity = await login(make(origin, http, getGroupsPermission=True), fake, "alice")
    assert identity.groups == ("kubermatic", "kubermatic:owner", "kubermatic/sre", "kubermatic/sre:developer")


async def test_all_groups_and_login_id(origin: str, http: aiohttp.ClientSession, fake: FakeGitLab) -> None:
    identity = await login(make(origin, http, groups=[], useLoginAsID=True), fake, "bob")
    assert (identity.user_id, identity.preferred_username, identity.groups) == ("bob", "bob", ("hobby",))


async def test_no_groups_asked_no_openid_scope(
    origin: str, http: aiohttp.ClientSession, fake: FakeGitLab
) -> None:
    identity = await login(make(origin, http, groups=[]), fake, "alice", scopes=("openid", "email"))
    assert fake.last_scope == "read_user" and identity.groups == ()


async def test_refresh_after_revocation(origin: str, http: aiohttp.ClientSession, fake: FakeGitLab) -> None:
    conn = make(origin, http)
    identity = await login(conn, fake, "alice")
    fake.revoke("alice")
    with pytest.raises(LoginRefused, match="sign in again"):
        await conn.refresh(SCOPES, identity)

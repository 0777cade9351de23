"""The GitHub connector against the fake GitHub Enterprise (``tests/fakes/github.py``), over TLS with
its own CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.conformance.callback_connectors import CALLBACK, SCOPES, Refreshes, RefusesPeople, sign_in
from tests.fakes.github import FakeGitHub, GitHubUser
from tests.fakes.server import serve
from tests.fakes.tls import CertAuthority, make_ca

from idgate.connectors.errors import LoginRefused, UpstreamFailed
from idgate.connectors.github import GitHubConfig, GitHubConnector

ALICE = GitHubUser(
    id=1001,
    login="alice",
    name="Alice Liddell",
    emails=[
        {"email": "alice@old.example", "verified": False, "primary": False},
        {"email": "alice@example.com", "verified": True, "primary": True},
        {"email": "alice@corp.example.org", "verified": True, "primary": False},
    ],
    orgs=["other", "kubermatic", "acme"],
    teams=[("kubermatic", "SRE Team", "sre-team"), ("kubermatic", "Devs", "devs"), ("acme", "Ops", "ops")],
)
BOB = GitHubUser(
    id=1002,
    login="bob",
    emails=[{"email": "bob@example.com", "verified": True, "primary": True}],
    orgs=["other"],
)
CAROL = GitHubUser(  # in the org but in no listed team
    id=1003,
    login="carol",
    emails=[{"email": "carol@example.com", "verified": True, "primary": True}],
    orgs=["acme"],
    teams=[("acme", "Interns", "interns")],
)
DAVE = GitHubUser(  # primary email not verified
    id=1004,
    login="dave",
    emails=[{"email": "dave@example.com", "verified": False, "primary": True}],
    orgs=["kubermatic"],
)


class Driver:
    expected_user_id = "1001"
    expected_email = "alice@example.com"
    expected_groups = ("kubermatic", "kubermatic:SRE Team", "kubermatic:Devs", "acme", "acme:Ops")

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake

    def allow(self) -> None:
        self.fake.login_as = "alice"

    def refuse(self) -> None:
        self.fake.login_as = "bob"

    def lose_access(self) -> None:
        self.fake.users["alice"].orgs = ["other"]

    def send_email(self, email: str) -> None:
        self.fake.users["alice"].emails = [{"email": email, "verified": True, "primary": True}]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertAuthority:
    return make_ca(tmp_path_factory.mktemp("github-ca"))


@pytest.fixture
def fake() -> FakeGitHub:
    import copy

    users = {u.login: copy.deepcopy(u) for u in (ALICE, BOB, CAROL, DAVE)}
    return FakeGitHub(users=users)


@pytest.fixture
async def origin(fake: FakeGitHub, ca: CertAuthority) -> AsyncIterator[str]:
    async with serve(fake.app(), ca.server_context()) as url:
        yield url


def make(origin: str, ca: CertAuthority, http: aiohttp.ClientSession, **config: Any) -> GitHubConnector:
    base: dict[str, Any] = {
        "clientID": "gh-client",
        "clientSecret": "gh-secret",
        "hostName": origin.removeprefix("https://"),
        "rootCA": str(ca.ca_file),
        "orgs": [{"name": "kubermatic"}, {"name": "acme", "teams": ["Ops", "nobody"]}],
    }
    return GitHubConnector("github", "GitHub", GitHubConfig.model_validate({**base, **config}), http)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class TestGitHubConformance(RefusesPeople, Refreshes):
    @pytest.fixture
    async def connector(
        self, origin: str, ca: CertAuthority, http: aiohttp.ClientSession
    ) -> AsyncIterator[Any]:
        yield make(origin, ca, http)

    @pytest.fixture
    def upstream(self, fake: FakeGitHub) -> Driver:
        return Driver(fake)


async def login(connector: GitHubConnector, fake: FakeGitHub, who: str) -> Any:
    fake.login_as = who
    return await connector.handle_callback(SCOPES, CALLBACK, await sign_in(connector))


async def test_login_url_asks_for_emails_and_orgs(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession
) -> None:
    url = make(origin, ca, http).login_url(SCOPES, CALLBACK, "st")
    assert url.startswith(f"{origin}/login/oauth/authorize?")
    assert "scope=user%3Aemail+read%3Aorg" in url
    assert "redirect_uri=https%3A%2F%2Fidgate.example.com%2Fdex%2Fcallback" in url


async def test_every_page_is_read(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    identity = await login(make(origin, ca, http), fake, "alice")
    assert identity.groups == ("kubermatic", "kubermatic:SRE Team", "kubermatic:Devs", "acme", "acme:Ops")
    assert any("page=2" in r for r in fake.requests if r.startswith("/api/v3/user/teams"))


async def test_identity_fields(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    identity = await login(make(origin, ca, http), fake, "alice")
    assert (identity.user_id, identity.username, identity.preferred_username) == (
        "1001",
        "Alice Liddell",
        "alice",
    )


async def test_login_as_id(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    identity = await login(make(origin, ca, http, useLoginAsID=True), fake, "alice")
    assert identity.user_id == "alice"


async def test_team_slug_and_both(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    conn = make(origin, ca, http, teamNameField="slug", orgs=[{"name": "kubermatic", "teams": ["sre-team"]}])
    assert (await login(conn, fake, "alice")).groups == ("kubermatic", "kubermatic:sre-team")
    conn = make(origin, ca, http, teamNameField="both", orgs=[{"name": "kubermatic", "teams": ["sre-team"]}])
    assert (await login(conn, fake, "alice")).groups == ("kubermatic", "kubermatic:sre-team")
    conn = make(origin, ca, http, teamNameField="both", orgs=[{"name": "acme"}])
    assert (await login(conn, fake, "alice")).groups == ("acme", "acme:Ops", "acme:ops")


async def test_member_of_org_but_not_of_listed_teams_is_refused(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    with pytest.raises(
        LoginRefused, match=r"carol is not a member of kubermatic or acme \(teams: Ops, nobody\)"
    ):
        await login(make(origin, ca, http), fake, "carol")


async def test_legacy_org(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    conn = make(origin, ca, http, orgs=[], org="acme")
    assert (await login(conn, fake, "carol")).groups == ("acme", "acme:Interns")


async def test_load_all_groups(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    conn = make(origin, ca, http, orgs=[], loadAllGroups=True)
    groups = (await login(conn, fake, "bob")).groups
    assert groups == ("other",)


async def test_no_orgs_no_groups(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    conn = make(origin, ca, http, orgs=[])
    assert (await login(conn, fake, "bob")).groups == ()
    assert "read%3Aorg" not in conn.login_url(SCOPES, CALLBACK, "s")


async def test_unverified_primary_email_is_refused(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    with pytest.raises(LoginRefused, match="no verified primary email"):
        await login(make(origin, ca, http), fake, "dave")


async def test_preferred_email_domain(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    conn = make(origin, ca, http, preferredEmailDomain="*.example.org")
    assert (await login(conn, fake, "alice")).email == "alice@corp.example.org"
    conn = make(origin, ca, http, preferredEmailDomain="old.example")  # unverified: the primary instead
    assert (await login(conn, fake, "alice")).email == "alice@example.com"


async def test_refresh_with_revoked_token_is_refused(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    conn = make(origin, ca, http)
    identity = await login(conn, fake, "alice")
    fake.revoke("alice")
    with pytest.raises(LoginRefused, match="revoked"):
        await conn.refresh(SCOPES, identity)


async def test_wrong_ca_fails_closed(
    origin: str, http: aiohttp.ClientSession, fake: FakeGitHub, tmp_path: Path
) -> None:
    other = make_ca(tmp_path / "other")
    conn = make(origin, other, http)
    fake.login_as = "alice"
    code = "whatever"
    with pytest.raises(UpstreamFailed, match="TLS"):
        await conn.handle_callback(SCOPES, CALLBACK, {"code": code, "state": "s"})


async def test_unreachable_fails_closed(ca: CertAuthority, http: aiohttp.ClientSession) -> None:
    conn = make("https://127.0.0.1:1", ca, http)
    with pytest.raises(UpstreamFailed, match="unreachable"):
        await conn.handle_callback(SCOPES, CALLBACK, {"code": "c", "state": "s"})


async def test_a_person_in_61_teams_signs_in_every_time_when_the_page_arrives_slowly(
    origin: str, ca: CertAuthority, http: aiohttp.ClientSession, fake: FakeGitHub
) -> None:
    """One ``/user/teams`` page of ~70 KB, written in 12 pieces 20 ms apart (a distant API): the page is
    read whole, not the pieces that had arrived."""
    teams = [("kubermatic", f"Team {i:02d}", f"team-{i:02d}") for i in range(61)]
    fake.users["alice"].teams = teams
    fake.max_per_page, fake.slow_pieces = 100, 12
    conn = make(origin, ca, http, orgs=[], loadAllGroups=True)
    for _ in range(5):
        identity = await login(conn, fake, "alice")
        assert len(identity.groups) == 3 + 61 and "kubermatic:Team 60" in identity.groups
    page = f"{origin}/api/v3/user/teams?per_page=100"
    tls = ssl.create_default_context(cafile=str(ca.ca_file))
    async with http.get(page, headers={"Authorization": f"token {next(iter(fake.tokens))}"}, ssl=tls) as r:
        size = len(await r.read())
    assert 65_000 < size < 80_000, size  # ~70 KB: the size of the page GitHub sends for 61 teams

"""The seed's promise, end to end: people log in with GitHub, and ``github_org`` / ``github_team``
really restrict who reaches Prometheus (in the charts' OAuth2-Proxy they restrict nothing).

idgate runs as a subprocess with the KKP example values and a GitHub connector pointed at a local
GitHub Enterprise double (``tests/fakes/github.py``, over TLS with its own CA): the real GitHub
cannot be reached from these machines.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream, free_port, local_values, start_idgate, stop_idgate
from tests.fakes.github import FakeGitHub, GitHubUser
from tests.fakes.server import serve
from tests.fakes.tls import make_ca

pytestmark = pytest.mark.e2e

ALICE = GitHubUser(  # in the org and in the team the prometheus deployment requires
    id=4242,
    login="alice",
    name="Alice",
    emails=[{"email": "alice@example.com", "verified": True, "primary": True}],
    orgs=["mygithuborg"],
    teams=[("mygithuborg", "mygroup", "mygroup")],
)
CAROL = GitHubUser(  # in the org, in another team: the connector lets her in, prometheus does not
    id=4343,
    login="carol",
    emails=[{"email": "carol@example.com", "verified": True, "primary": True}],
    orgs=["mygithuborg"],
    teams=[("mygithuborg", "interns", "interns")],
)
MALLORY = GitHubUser(  # in no configured org: the connector refuses her
    id=6666,
    login="mallory",
    emails=[{"email": "mallory@example.com", "verified": True, "primary": True}],
    orgs=["elsewhere"],
)


@pytest.fixture
async def world(tmp_path: Path, upstream: Upstream) -> AsyncIterator[tuple[Running, FakeGitHub, Any]]:
    ca = make_ca(tmp_path / "tls")
    fake = FakeGitHub(users={u.login: u for u in (ALICE, CAROL, MALLORY)})
    async with serve(fake.app(), ca.server_context()) as origin:
        port = free_port()
        values = local_values(port, upstream.port, tmp_path / "data")
        dex = values["dex"]
        dex.pop("staticPasswords")
        dex["connectors"] = [
            {
                "type": "github",
                "id": "github",
                "name": "GitHub",
                "config": {
                    "clientID": fake.client_id,
                    "clientSecret": fake.client_secret,
                    "redirectURI": f"http://kkp.localhost:{port}/dex/callback",
                    "hostName": origin.removeprefix("https://"),
                    "rootCA": str(ca.ca_file),
                    "orgs": [{"name": "mygithuborg"}],
                },
            }
        ]
        config = tmp_path / "values.yaml"
        config.write_text(yaml.safe_dump(values))
        running = start_idgate(["serve", "--config", str(config)], port, tmp_path / "idgate.log")
        try:
            yield running, fake, ssl.create_default_context(cafile=str(ca.ca_file))
        finally:
            assert stop_idgate(running) == 0, running.output()


async def test_team_member_reaches_prometheus_with_github_groups(
    world: tuple[Running, FakeGitHub, Any], upstream: Upstream
) -> None:
    running, fake, tls = world
    fake.login_as = "alice"
    upstream.clear()
    async with Browser(ssl=tls) as b:
        hops = await b.get(running.url("prometheus", "/graph?g0.expr=up"))
    assert hops[-1].status == 200, [(h.url, h.status, h.body[:300]) for h in hops]
    assert any("/login/oauth/authorize" in h.url for h in hops)
    seen = upstream.seen[-1]
    assert seen.target == "/graph?g0.expr=up"
    assert seen.headers["X-Forwarded-Email"] == "alice@example.com"
    groups = seen.headers["X-Forwarded-Groups"].split(",")
    assert {"mygithuborg", "mygithuborg:mygroup"} <= set(groups)


async def test_org_member_outside_the_team_is_refused_by_the_proxy(
    world: tuple[Running, FakeGitHub, Any], upstream: Upstream
) -> None:
    running, fake, tls = world
    fake.login_as = "carol"
    upstream.clear()
    async with Browser(ssl=tls) as b:
        hops = await b.get(running.url("prometheus", "/graph"))
        assert hops[-1].status == 403, [(h.url, h.status) for h in hops]
        assert "team" in hops[-1].body.lower()
        # the same person passes where no team is required (grafana has no github_org)
        hops = await b.get(running.url("grafana", "/"))
        assert hops[-1].status == 200, [(h.url, h.status) for h in hops]
    assert all(s.target == "/" for s in upstream.seen)


async def test_user_outside_the_orgs_is_refused_at_login(
    world: tuple[Running, FakeGitHub, Any], upstream: Upstream
) -> None:
    running, fake, tls = world
    fake.login_as = "mallory"
    upstream.clear()
    async with Browser(ssl=tls) as b:
        hops = await b.get(running.url("grafana", "/"))
    assert hops[-1].status == 403, [(h.url, h.status) for h in hops]
    # the provider answers the proxy with access_denied (RFC 6749 §4.1.2.1); the page says why
    assert "/oauth/callback?error=access_denied" in hops[-1].url
    assert "not a member of mygithuborg" in hops[-1].body
    assert upstream.seen == []

"""Issue 20: docs/recipes.md's Grafana recipe runs as written, and every header its ``grafana.ini`` reads
arrives at Grafana.

The values are the recipe's YAML block with this machine's addresses filled in (:func:`recipe_values`);
the ``${VAR}`` values come from the environment, as the recipe says. People log in with GitHub (the
GitHub Enterprise double of ``tests/fakes/github.py``). The headers checked are the ones the recipe's
``[auth.proxy]`` block names (``header_name``, ``headers``), and the ``[auth.jwt]`` block's assertion:
signed by the published keys, with its ``expect_claims``, ``email_claim`` and the groups its
``role_attribute_path`` looks for.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from joserfc import jwt
from joserfc.jwk import KeySet
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream, free_port, start_idgate, stop_idgate
from tests.fakes.github import FakeGitHub, GitHubUser
from tests.fakes.server import serve
from tests.fakes.tls import make_ca

from idgate.net import LocalResolver

pytestmark = pytest.mark.e2e

RECIPES = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
ALICE = GitHubUser(
    id=4242,
    login="alice",
    name="Alice",
    emails=[{"email": "alice@example.com", "verified": True, "primary": True}],
    orgs=["myorg"],
    teams=[("myorg", "admins", "admins")],
)


def section() -> str:
    text = RECIPES.read_text()
    return text.split("## Grafana", 1)[1].split("\n## ", 1)[0]


def recipe_values() -> dict[str, Any]:
    found = re.search(r"```yaml\n(.*?)```", section(), re.S)
    assert found, "no values in docs/recipes.md's Grafana section"
    values: dict[str, Any] = yaml.safe_load(found.group(1))
    return values


def ini(name: str) -> dict[str, str]:
    """The ``[name]`` block of the recipe's ``grafana.ini`` as a dict."""
    for block in re.findall(r"```ini\n(.*?)```", section(), re.S):
        if block.startswith(f"[{name}]"):
            pairs = (line.split(" = ", 1) for line in block.splitlines()[1:] if " = " in line)
            return {k.strip(): v.strip() for k, v in pairs}
    raise AssertionError(f"no [{name}] in docs/recipes.md's Grafana section")


@dataclass
class World:
    idgate: Running
    port: int
    upstream: Upstream
    tls: ssl.SSLContext

    def localise(self, text: str) -> str:
        """The recipe's hosts as they are on this machine (the deployment's URL keeps its https: the
        recipe leaves cookie_secure on, though idgate listens in plain http here)."""
        return text.replace("grafana.kkp.example.com", f"grafana.localhost:{self.port}").replace(
            "grafana.monitoring.svc.cluster.local:3000", f"127.0.0.1:{self.upstream.port}"
        )


@pytest.fixture
async def world(tmp_path: Path, upstream: Upstream) -> AsyncIterator[World]:
    ca = make_ca(tmp_path / "tls")
    fake = FakeGitHub(users={"alice": ALICE}, login_as="alice")
    async with serve(fake.app(), ca.server_context()) as origin:
        port = free_port()
        values = recipe_values()
        dex, deployment = values["dex"], values["iap"]["deployments"]["grafana"]
        dex["ingress"].update(host=f"kkp.localhost:{port}", scheme="http")
        (github,) = dex["connectors"]
        github["config"].update(
            redirectURI=f"http://kkp.localhost:{port}/dex/callback",
            hostName=origin.removeprefix("https://"),
            rootCA=str(ca.ca_file),
        )
        (client,) = dex["clients"]
        client["RedirectURIs"] = [f"http://grafana.localhost:{port}/oauth/callback"]
        values["iap"]["oidc_issuer_url"] = f"http://kkp.localhost:{port}/dex"
        deployment["ingress"]["host"] = f"grafana.localhost:{port}"
        deployment.update(upstream_service="127.0.0.1", upstream_port=upstream.port)
        values["idgate"] = {
            "listen": f"127.0.0.1:{port}",
            "data_dir": str(tmp_path / "data"),
            "storage": f"sqlite:///{tmp_path}/data/idgate.db",
        }
        config = tmp_path / "values.yaml"
        config.write_text(yaml.safe_dump(values))
        env = {
            "GITHUB_CLIENT_ID": fake.client_id,
            "GITHUB_CLIENT_SECRET": fake.client_secret,
            "GRAFANA_SECRET": "Gq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX",
            "GRAFANA_COOKIE_KEY": "c" * 32,
        }
        running = start_idgate(["serve", "--config", str(config)], port, tmp_path / "idgate.log", env=env)
        try:
            yield World(running, port, upstream, ssl.create_default_context(cafile=str(ca.ca_file)))
        finally:
            assert stop_idgate(running) == 0, running.output()


async def test_every_header_the_recipes_grafana_ini_reads_arrives(world: World) -> None:
    world.upstream.clear()
    async with Browser(ssl=world.tls) as b:
        hops = await b.get(world.idgate.url("grafana", "/d/home"))
    assert hops[-1].status == 200, [(h.url, h.status, h.body[:300]) for h in hops]
    seen = world.upstream.seen[-1].headers

    # [auth.proxy]: header_name, then every Key:Header of `headers`
    proxy = ini("auth.proxy")
    assert seen.get(proxy["header_name"]) == "alice@example.com"
    wanted = dict(pair.split(":", 1) for pair in proxy["headers"].split())
    assert wanted == {"Name": "X-Forwarded-Preferred-Username", "Groups": "X-Forwarded-Groups"}
    assert seen.get(wanted["Name"]) == "alice", "the scope must release preferred_username (profile)"
    assert "myorg:admins" in seen.get(wanted["Groups"], "").split(",")

    # [auth.jwt]: the assertion, verified with the keys at jwk_set_url, with the claims Grafana expects
    conf = ini("auth.jwt")
    token = seen.get(conf["header_name"])
    assert token, f"{conf['header_name']} did not arrive"
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LocalResolver())) as http,
        http.get(world.localise(conf["jwk_set_url"]).replace("https://", "http://")) as resp,
    ):
        assert resp.status == 200
        keys = KeySet.import_key_set(await resp.json())
    claims = jwt.decode(token, keys, algorithms=["ES256"]).claims
    expected = json.loads(world.localise(conf["expect_claims"]))
    assert {k: claims.get(k) for k in expected} == expected, claims
    assert claims[conf["email_claim"]] == claims[conf["username_claim"]] == "alice@example.com"
    assert conf["groups_attribute_path"] == "groups" and "myorg:admins" in claims["groups"]
    assert "'myorg:admins'" in conf["role_attribute_path"]

"""Caddy in front, running the Caddyfile of docs/recipes.md (``forward_auth``): the browser only ever talks
to Caddy, which asks idgate's ``/oauth/auth`` and proxies the service itself.

    browser --> caddy :front --forward_auth--> idgate :own port (/oauth/auth, /oauth/*, the provider's host)
                             --reverse_proxy--> recording upstream

The site block for Grafana is the recipe's text with the addresses of this machine filled in
(:func:`recipe`): what the documentation tells people to write is what runs here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    Upstream,
    free_port,
    local_values,
    recording_upstream,
    start_idgate,
    stop_idgate,
    wait_listening,
)

pytestmark = pytest.mark.e2e

CADDY = "/usr/bin/caddy"
RECIPES = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"


def recipe() -> str:
    """The Caddyfile in docs/recipes.md's Caddy section."""
    text = RECIPES.read_text()
    section = text.split("## Caddy (`forward_auth`)", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```\n(.*?)```", section, re.S)
    assert found, "no Caddyfile in docs/recipes.md's Caddy section"
    return found.group(1)


@dataclass
class Front:
    port: int
    idgate: Running
    upstream: Upstream

    def url(self, service: str, path: str = "/") -> str:
        return f"http://{service}.localhost:{self.port}{path}"


def caddyfile(port: int, idgate_port: int, upstream_port: int) -> str:
    site = (
        recipe()
        .replace("prometheus.kkp.example.com {", f"http://grafana.localhost:{port} {{")
        .replace("127.0.0.1:4180", f"127.0.0.1:{idgate_port}")
        .replace("prometheus.monitoring.svc.cluster.local:9090", f"127.0.0.1:{upstream_port}")
    )
    return (
        "{\n\tadmin off\n\tauto_https off\n}\n\n"
        f"http://kkp.localhost:{port} {{\n\treverse_proxy 127.0.0.1:{idgate_port}\n}}\n\n{site}"
    )


@pytest.fixture(scope="module")
def front() -> Iterator[Front]:
    assert Path(CADDY).exists(), "caddy is not installed: run scripts/system-deps (Debian package caddy)"
    run = Path(tempfile.mkdtemp(prefix="idgate-caddy-"))
    caddy: subprocess.Popen[bytes] | None = None
    idgate: Running | None = None
    try:
        with recording_upstream() as upstream:
            port, idgate_port = free_port(), free_port()
            values = local_values(port, upstream.port, run / "data")
            values["idgate"]["listen"] = f"127.0.0.1:{idgate_port}"
            # As the recipe says: `profile` in the scope, or X-Forwarded-Preferred-Username never arrives.
            values["iap"]["deployments"]["grafana"]["config"]["scope"] = "openid email profile groups"
            config = run / "values.yaml"
            config.write_text(yaml.safe_dump(values))
            idgate = start_idgate(["serve", "--config", str(config)], idgate_port, run / "idgate.log")
            conf = run / "Caddyfile"
            conf.write_text(caddyfile(port, idgate_port, upstream.port))
            log = run / "caddy.log"
            caddy = subprocess.Popen(
                [CADDY, "run", "--config", str(conf), "--adapter", "caddyfile"],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                env={"HOME": str(run), "XDG_DATA_HOME": str(run), "XDG_CONFIG_HOME": str(run)},
            )
            wait_listening(port, caddy, log)
            yield Front(port, idgate, upstream)
    finally:
        if caddy is not None:
            caddy.terminate()
            caddy.wait(timeout=10)
        if idgate is not None:
            assert stop_idgate(idgate) == 0, idgate.output()
        shutil.rmtree(run, ignore_errors=True)


async def test_sign_in_through_caddy_comes_back_with_the_whole_query_and_only_our_identity(
    front: Front,
) -> None:
    front.upstream.clear()
    page = "/d/abc?orgId=1&from=now-6h&refresh=5s&rd=/admin"
    forged = {
        "X-Forwarded-Email": "ceo@example.com",
        "X-Auth-Request-Email": "ceo@example.com",
        "X-Auth-Request-Groups": "admins",
        "X-Forwarded-Groups": "admins",
    }
    async with Browser() as b:
        hops = await b.get(front.url("grafana", page), headers=forged)
        assert front.upstream.seen == []  # no session: nothing reached the service
        login = hops[-1]
        assert login.status == 200 and "password" in login.body.lower(), [(h.url, h.status) for h in hops]
        hops = await b.submit(login, {"login": EMAIL, "password": PASSWORD})
        assert hops[-1].status == 200, [(h.url, h.status) for h in hops]
        assert hops[-1].url == front.url("grafana", page)  # the whole query, not cut at its first '&'
        hops = await b.get(front.url("grafana", "/api/dashboards"), headers=forged)
        assert hops[-1].status == 200
    seen = {k.lower(): v for k, v in front.upstream.seen[-1].headers.items()}
    assert seen["x-forwarded-email"] == EMAIL  # idgate's answer, not the client's
    assert seen["x-forwarded-preferred-username"] == "admin"  # the static user's username, not "{http...}"
    assert not any(k.startswith("x-auth-request-") for k in seen)  # the client's are removed
    assert "ceo@example.com" not in seen.values() and "admins" not in seen.values()

"""nginx in front, running what ``idgate render nginx --standalone`` writes: the browser only ever talks to
nginx, which asks idgate's ``/oauth/auth`` (``auth_request``) and proxies the service itself.

    browser --> nginx :front --auth_request--> idgate :own port (/oauth/auth, /oauth/*, the provider's host)
                             --proxy_pass----> recording upstream

Every host of the values file is on nginx's port. The render goes through the CLI, with a cache time of
2 s (the default is 5) so that the test can see an entry expire. idgate's access log has one line per
``/oauth/auth`` it answers: that count tells a cached answer from an asked one.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    Upstream,
    flushed,
    free_port,
    local_values,
    recording_upstream,
    start_idgate,
    stop_idgate,
    wait_listening,
)

pytestmark = pytest.mark.e2e

NGINX = "/usr/sbin/nginx"
CACHE_SECONDS = 2
SUB = "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"  # the user's sub, Dex-encoded


@dataclass
class Front:
    """nginx on ``port`` in front of ``idgate`` and ``upstream``."""

    port: int
    idgate: Running
    upstream: Upstream
    conf: str

    def url(self, service: str, path: str = "/") -> str:
        return f"http://{service}.localhost:{self.port}{path}"

    def auth_answers(self, deployment: str) -> int:
        """How many ``/oauth/auth`` requests idgate has answered for ``deployment`` (its access lines, once
        every line so far is written)."""
        pattern = re.compile(
            rf" GET \S+ /oauth/auth \d{{3}} \S+ deployment={deployment} user=\S+ decision=(allow|deny) "
        )
        return len(pattern.findall(flushed(self.idgate)))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def front() -> Iterator[Front]:
    assert Path(NGINX).exists(), "nginx is not installed: run scripts/system-deps (Debian package nginx)"
    # nginx's workers drop root for `nobody`: the run directory (its cache, temp files) must be theirs to
    # reach, which pytest's 0700 temporary tree is not.
    run = Path(tempfile.mkdtemp(prefix="idgate-nginx-"))
    os.chmod(run, 0o755)
    nginx: subprocess.Popen[bytes] | None = None
    idgate: Running | None = None
    try:
        with recording_upstream() as upstream:
            port, idgate_port = free_port(), free_port()
            values = local_values(port, upstream.port, run / "data")
            values["idgate"]["listen"] = f"127.0.0.1:{idgate_port}"
            # alertmanager: any email, a refresh token, and a refresh due one second after sign-in
            values["iap"]["deployments"]["alertmanager"]["config"] = {
                "scope": "openid email groups offline_access",
                "email_domains": ["*"],
                "cookie_refresh": "1s",
                "cookie_expire": "10m",
            }
            config = run / "values.yaml"
            config.write_text(yaml.safe_dump(values))
            idgate = start_idgate(["serve", "--config", str(config)], idgate_port, run / "idgate.log")

            site = run / "nginx"
            site.mkdir(mode=0o755)
            rendered = subprocess.run(
                [
                    *(sys.executable, "-m", "idgate", "-q", "render", "nginx", "--config", str(config)),
                    *("--listen", f"127.0.0.1:{port}", "--standalone", str(site)),
                    *("--cache-seconds", str(CACHE_SECONDS)),
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert rendered.returncode == 0, rendered.stderr
            conf = site / "nginx.conf"
            conf.write_text(rendered.stdout)
            log = site / "nginx.out"
            nginx = subprocess.Popen(
                [NGINX, "-c", str(conf), "-p", str(site), "-e", str(site / "error.log")],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            wait_listening(port, nginx, log)  # type: ignore[arg-type]
            yield Front(port, idgate, upstream, rendered.stdout)
            # nothing went wrong on nginx's side (a cache it cannot write, a key too large...)
            problems = [
                line
                for line in (site / "error.log").read_text().splitlines()
                if re.search(r"\[(emerg|alert|crit|error)\]", line)
            ]
            assert problems == []
    finally:
        if nginx is not None:
            _stop(nginx)
        if idgate is not None:
            assert stop_idgate(idgate) == 0, idgate.output()
        shutil.rmtree(run, ignore_errors=True)


def _login_page(hops: list[Hop]) -> Hop:
    last = hops[-1]
    assert last.status == 200, [(h.url, h.status) for h in hops]
    assert "/dex/" in last.url and "password" in last.body.lower()
    return last


async def sign_in(b: Browser, front: Front, service: str, path: str = "/") -> list[Hop]:
    hops = await b.get(front.url(service, path))
    return await b.submit(_login_page(hops), {"login": EMAIL, "password": PASSWORD})


async def test_sign_in_through_nginx_brings_the_identity_and_only_it(front: Front) -> None:
    front.upstream.clear()
    forged = {"X-Forwarded-Email": "ceo@example.com", "X-Auth-Request-Email": "ceo@example.com"}
    async with Browser() as b:
        first = await b.get(
            front.url("grafana", "/d/abc?orgId=1&from=now-6h&refresh=5s&rd=/admin"), headers=forged
        )
        # no session: nginx turned idgate's 401 into /oauth/start, which sends the browser to the provider
        assert first[0].status == 302 and urlsplit(first[0].location or "").path == "/dex/auth"
        assert front.upstream.seen == []
        page = _login_page(first)
        assert page.url.startswith(f"http://kkp.localhost:{front.port}/dex/")  # the provider, via nginx
        hops = await b.submit(page, {"login": EMAIL, "password": PASSWORD})
        assert hops[-1].status == 200, [(h.url, h.status, h.body[:200]) for h in hops]
        # back to the page with its whole query (nginx cannot URL-encode it into ?rd=)
        assert hops[-1].url == front.url("grafana", "/d/abc?orgId=1&from=now-6h&refresh=5s&rd=/admin")
        hops = await b.get(front.url("grafana", "/api/dashboards"), headers=forged)
        assert hops[-1].status == 200
    seen = front.upstream.seen[-1]
    assert seen.target == "/api/dashboards"
    for name in ("X-Forwarded-Email", "X-Auth-Request-Email"):
        assert seen.headers[name] == EMAIL  # the client's forged value was replaced
    assert seen.headers["X-Forwarded-User"] == SUB


async def test_skip_auth_regex_passes_without_a_session_and_without_forged_identity(front: Front) -> None:
    front.upstream.clear()
    async with Browser() as b:
        hops = await b.get(
            front.url("prometheus", "/-/healthy"), headers={"X-Forwarded-Email": EMAIL}, follow=False
        )
        assert hops[0].status == 200
        seen = front.upstream.seen[-1]
        assert seen.target == "/-/healthy"
        assert "X-Forwarded-Email" not in seen.headers
        # the query string is not the path: this one asks idgate, and there is no session
        front.upstream.clear()
        hops = await b.get(front.url("prometheus", "/api/v1/query?x=/-/healthy"), follow=False)
        assert hops[0].status == 302
        assert front.upstream.seen == []


async def test_a_person_the_policy_refuses_gets_403(front: Front) -> None:
    """Prometheus wants GitHub org ``mygithuborg``; the local user is in none."""
    front.upstream.clear()
    async with Browser() as b:
        hops = await sign_in(b, front, "prometheus", "/graph")
        assert hops[-1].status == 403
        hops = await b.get(front.url("prometheus", "/api/v1/query"), follow=False)
        assert hops[0].status == 403
    assert front.upstream.seen == []


async def test_answers_are_cached_per_cookie_for_the_cache_time(front: Front) -> None:
    async with Browser() as b:
        await sign_in(b, front, "grafana")  # its last hop asked idgate and stored the 202
        asked = front.auth_answers("grafana")
        for path in ("/a", "/b", "/c"):
            assert (await b.get(front.url("grafana", path)))[-1].status == 200
        assert front.auth_answers("grafana") == asked  # three answers from nginx's cache
        value = b.cookies_for(front.url("grafana"))["grafana_oauth2_proxy"]

    # another cookie (an altered copy) is another key: idgate is asked, and refuses
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    async with Browser() as other:
        hops = await other.get(
            front.url("grafana", "/a"), headers={"Cookie": f"grafana_oauth2_proxy={flipped}"}, follow=False
        )
        assert hops[0].status == 302
        assert front.auth_answers("grafana") == asked + 1
        # no cookie at all: never read from (nor written to) the cache
        for _ in range(2):
            assert (await other.get(front.url("grafana", "/a"), follow=False))[0].status == 302
        assert front.auth_answers("grafana") == asked + 3

    # the entry expires: the same cookie is asked about again
    await asyncio.sleep(CACHE_SECONDS + 1.2)
    async with Browser() as again:
        hops = await again.get(
            front.url("grafana", "/a"), headers={"Cookie": f"grafana_oauth2_proxy={value}"}, follow=False
        )
        assert hops[0].status == 200
    assert front.auth_answers("grafana") == asked + 4


async def test_a_refreshed_session_reaches_the_browser_through_nginx(front: Front) -> None:
    async with Browser() as b:
        hops = await sign_in(b, front, "alertmanager", "/#/alerts")
        assert hops[-1].status == 200
        before = b.cookies_for(front.url("alertmanager"))["alertmanager_oauth2_proxy"]
        await asyncio.sleep(CACHE_SECONDS + 1.2)  # cookie_refresh: 1s, once nginx's cached 202 is gone
        assert (await b.get(front.url("alertmanager", "/api/v2/alerts")))[-1].status == 200
        after = b.cookies_for(front.url("alertmanager"))["alertmanager_oauth2_proxy"]
        assert after != before  # idgate's refreshed cookie, copied by nginx (X-Idgate-Set-Cookie-0)
        hops = await b.get(front.url("alertmanager", "/api/v2/status"), follow=False)
        assert hops[0].status == 200


async def test_sign_out_through_nginx_ends_the_session(front: Front) -> None:
    async with Browser() as b:
        await sign_in(b, front, "grafana")
        assert (await b.get(front.url("grafana", "/x"), follow=False))[0].status == 200
        hops = await b.get(front.url("grafana", "/oauth/sign_out"), follow=False)
        assert hops[0].status == 302
        assert "grafana_oauth2_proxy" not in b.cookies_for(front.url("grafana"))
        front.upstream.clear()
        hops = await b.get(front.url("grafana", "/x"), follow=False)
        assert hops[0].status == 302 and urlsplit(hops[0].location or "").path == "/dex/auth"
    assert front.upstream.seen == []


def test_the_rendered_config_is_what_runs(front: Front) -> None:
    """The pieces the tests above rely on are in the file nginx runs."""
    assert front.conf.count("auth_request /oauth/auth;") == 3
    assert f"proxy_cache_valid 202 {CACHE_SECONDS}s;" in front.conf
    assert "add_header Set-Cookie $idgate_cookie_0 always;" in front.conf

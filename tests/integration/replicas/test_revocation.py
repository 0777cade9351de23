"""Sign-out on one proxy replica ends a copied cookie session on the other (issue 18).

Two provider and two proxy (grafana, cookie sessions) replicas on one PostgreSQL database, nginx in front.
A person signs in; the cookie is copied (what an attacker who read it would hold) and used on each proxy
replica directly, so each has it verified in its memo. Sign-out goes to replica A; replica B must refuse
the copy within a few seconds (its poll of the revocation list), and A at once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import Upstream, free_port
from tests.integration.replicas.harness import dump_values, replica_values, start_cluster
from tests.integration.replicas.test_redis_and_rotation import direct
from tests.integration.replicas.test_replicas import sign_in

pytestmark = pytest.mark.e2e

#: The promise: refused by every replica within this long of sign-out (each polls every 2 s).
WITHIN = 5.0


async def test_sign_out_on_one_replica_refuses_the_copied_cookie_on_the_other(
    tmp_path: Path, upstream: Upstream, database_url: str
) -> None:
    front = free_port()
    values = replica_values(front, upstream.port, tmp_path / "data", database_url)
    cluster = start_cluster(dump_values(values, tmp_path / "v.yaml"), front, tmp_path)
    a, b = cluster.proxies
    try:
        async with Browser() as browser:
            assert await sign_in(browser, cluster.url("grafana").rstrip("/"), 0) == (200, 200)
            copied = browser.cookies_for(cluster.url("grafana"))
        for n in range(3):  # accepted by both replicas before sign-out (and so in each one's memo)
            assert await direct(cluster, a.port, f"/before-a-{n}", copied) == 200
            assert await direct(cluster, b.port, f"/before-b-{n}", copied) == 200

        headers = {
            "Host": f"grafana.localhost:{cluster.front}",
            "Cookie": "; ".join(f"{k}={v}" for k, v in copied.items()),
        }
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"http://127.0.0.1:{a.port}/oauth/sign_out", headers=headers, allow_redirects=False
            ) as r,
        ):
            assert r.status == 302
        signed_out = time.monotonic()
        assert await direct(cluster, a.port, "/after-a", copied) == 302  # at once where it signed out

        status, elapsed = 200, 0.0
        while elapsed < 15.0:
            status = await direct(cluster, b.port, "/after-b", copied)
            elapsed = time.monotonic() - signed_out
            if status != 200:
                break
            await asyncio.sleep(0.1)
        assert status == 302, f"replica B still accepts the signed-out cookie after {elapsed:.1f} s"
        assert elapsed < WITHIN, f"replica B refused it only after {elapsed:.1f} s"
        for n in range(3):  # and keeps refusing it, on both
            assert await direct(cluster, b.port, f"/later-b-{n}", copied) == 302
            assert await direct(cluster, a.port, f"/later-a-{n}", copied) == 302
        assert not any(s.target == "/after-a" or s.target.startswith("/later") for s in upstream.seen)
    finally:
        cluster.stop()

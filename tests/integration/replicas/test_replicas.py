"""Stateless replicas: two provider and two proxy processes on one PostgreSQL database, behind nginx
balancing round-robin without stickiness. Logins that start on one replica finish on another, and
killing one replica of each role (SIGKILL, mid-test) loses no login and no session.

Proxy sessions are in cookies here; the Redis session store and a signing-key rotation during the run
are in ``test_redis_and_rotation.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import EMAIL, PASSWORD, Upstream, flushed, free_port
from tests.integration.replicas.harness import dump_values, replica_values, start_cluster

pytestmark = pytest.mark.e2e

LOGINS = 50
RETRYABLE = (502, 503, 504)


async def _step(browser: Browser, coro_factory: object) -> list[Hop]:
    """One browser step; repeated once when the hop failed at the balancer (as a browser reload would).

    A failed hop is an error status from nginx, a connection it closed, or an answer cut short: a replica
    killed between writing a response's head and its body leaves nginx with a head it has already passed
    on (the client reads fewer bytes than ``Content-Length`` says).
    """
    for attempt in range(2):
        try:
            hops: list[Hop] = await coro_factory()  # type: ignore[operator]
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            if attempt:
                raise
            continue
        if hops[-1].status not in RETRYABLE or attempt:
            return hops
    raise AssertionError("unreachable")


async def sign_in(b: Browser, url: str, n: int) -> tuple[int, int]:
    """Sign ``b`` in through the protected service; (status after login, status of a later request).

    A login form POST that a replica answered just before it was killed cannot be sent again: the
    pending login is single-use by design, so the repeat is refused (400). A person would start the
    login again from the app; so does this browser, once (the provider's SSO session may then finish
    it without the form).
    """
    for attempt in range(2):
        hops = await _step(b, lambda: b.get(f"{url}/login-{n}"))
        if attempt and hops[-1].status == 200 and hops[-1].url == f"{url}/login-{n}":
            first = 200  # the first try did sign in at the provider: its SSO session finishes the login
            break
        assert hops[-1].status == 200 and "<form" in hops[-1].body, [(h.url, h.status) for h in hops]
        form_page = hops[-1]
        hops = await _step(b, lambda page=form_page: b.submit(page, {"login": EMAIL, "password": PASSWORD}))
        first = hops[-1].status
        if first == 200 or attempt:
            break
    again = await _step(b, lambda: b.get(f"{url}/after-{n}", follow=False))
    return first, again[0].status


async def login(url: str, n: int) -> tuple[int, int]:
    """:func:`sign_in` with a fresh browser, closed afterwards."""
    async with Browser() as b:
        return await sign_in(b, url, n)


async def test_logins_survive_a_replica_of_each_role_being_killed(
    tmp_path: Path, upstream: Upstream, database_url: str
) -> None:
    front = free_port()
    config = dump_values(
        replica_values(front, upstream.port, tmp_path / "data", database_url), tmp_path / "v.yaml"
    )
    cluster = start_cluster(config, front, tmp_path)
    try:
        loop = asyncio.get_running_loop()

        async def staggered(n: int) -> tuple[int, int]:
            await asyncio.sleep(n * 0.02)
            return await login(cluster.url("grafana").rstrip("/"), n)

        def kill_one_of_each() -> None:
            cluster.kill(cluster.providers[0])
            cluster.kill(cluster.proxies[0])

        loop.call_later(0.5, kill_one_of_each)
        results = await asyncio.gather(*(staggered(n) for n in range(LOGINS)))
        assert results == [(200, 200)] * LOGINS, results
        assert cluster.providers[0].process.returncode == -9 and cluster.proxies[0].process.returncode == -9
        seen = {s.target for s in upstream.seen}
        assert all(f"/login-{n}" in seen and f"/after-{n}" in seen for n in range(LOGINS))
    finally:
        cluster.stop()


async def test_a_login_started_on_one_replica_finishes_on_the_other(
    tmp_path: Path, upstream: Upstream, database_url: str
) -> None:
    front = free_port()
    config = dump_values(
        replica_values(front, upstream.port, tmp_path / "data", database_url), tmp_path / "v.yaml"
    )
    cluster = start_cluster(config, front, tmp_path)
    try:
        for n in range(4):  # round-robin: successive steps land on alternate replicas
            assert await login(cluster.url("grafana").rstrip("/"), 100 + n) == (200, 200)
        logs = [flushed(r) for r in [*cluster.providers, *cluster.proxies]]
        served = [
            [x for x in log.splitlines() if "idgate.access" in x and "flush.invalid" not in x] for log in logs
        ]
        assert all(served), "every replica took part"
    finally:
        cluster.stop()

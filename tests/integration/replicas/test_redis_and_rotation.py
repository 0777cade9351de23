"""The proxy pair on the Redis session store, and a signing-key rotation during the run (issue 8).

- Redis: both grafana proxy replicas keep their sessions in one Redis database (``session_store_type:
  redis``). A session made through nginx is asked for on each replica directly and works on both; 20
  concurrent logins survive a SIGKILL of one replica of each role, and every session is still there after.
- Rotation: ``idgate keys rotate --config`` runs against the same PostgreSQL storage while logins are in
  flight, then the provider replicas are replaced one after the other (a fresh process signs with the new
  key at once; running ones would pick it up within a minute). Logins started before and after complete,
  ID tokens under both keys are accepted by the proxies, and sessions made before the rotation still pass.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tests.e2e.browser import Browser
from tests.e2e.harness import Upstream, free_port
from tests.integration.replicas.harness import Cluster, dump_values, replica_values, start_cluster
from tests.integration.replicas.test_replicas import login, sign_in

pytestmark = pytest.mark.e2e

# Database 12 of the Redis at 127.0.0.1:6379 belongs to this test (others use 0 and 15); it is flushed
# before and after.
REDIS_URL = "redis://127.0.0.1:6379/12"
REDIS_LOGINS = 20
ROTATION_LOGINS = 20


@pytest.fixture
async def redis_db() -> AsyncIterator[Redis]:
    """The test's Redis database, empty; fails (does not skip) when Redis is down."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        await client.flushdb()
    except (OSError, RedisError) as exc:
        await client.aclose()
        pytest.fail(f"Redis is required at {REDIS_URL} and is unreachable: {exc}")
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


async def direct(cluster: Cluster, port: int, path: str, cookies: dict[str, str]) -> int:
    """GET ``path`` on one proxy replica (bypassing nginx) with the browser's cookies; the status."""
    headers = {
        "Host": f"grafana.localhost:{cluster.front}",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}", headers=headers, allow_redirects=False) as resp,
    ):
        return resp.status


async def session_keys(redis: Redis) -> list[bytes]:
    return [k async for k in redis.scan_iter(match="idgate:grafana:s:*")]


async def test_redis_sessions_are_shared_by_the_proxy_pair_and_survive_a_kill(
    tmp_path: Path, upstream: Upstream, database_url: str, redis_db: Redis
) -> None:
    front = free_port()
    values = replica_values(front, upstream.port, tmp_path / "data", database_url, redis=REDIS_URL)
    cluster = start_cluster(dump_values(values, tmp_path / "v.yaml"), front, tmp_path)
    url = cluster.url("grafana").rstrip("/")
    try:
        async with Browser() as first:
            assert await sign_in(first, url, 0) == (200, 200)
            assert len(await session_keys(redis_db)) == 1, "the session is in Redis"
            cookies = first.cookies_for(cluster.url("grafana"))
            for i, proxy in enumerate(cluster.proxies):  # made on one replica, found on each
                assert await direct(cluster, proxy.port, f"/shared-{i}", cookies) == 200
            assert await direct(cluster, cluster.proxies[0].port, "/shared-x", {}) == 302  # not signed in

            loop = asyncio.get_running_loop()

            async def staggered(n: int) -> tuple[int, int]:
                await asyncio.sleep(n * 0.03)
                return await login(url, n)

            def kill_one_of_each() -> None:
                cluster.kill(cluster.providers[0])
                cluster.kill(cluster.proxies[0])

            loop.call_later(0.5, kill_one_of_each)
            results = await asyncio.gather(*(staggered(n) for n in range(1, REDIS_LOGINS + 1)))
            assert results == [(200, 200)] * REDIS_LOGINS, results
            assert (
                cluster.proxies[0].process.returncode == -9 and cluster.providers[0].process.returncode == -9
            )

            # The session made before the kill, on the survivor and through nginx (twice: both upstreams).
            assert await direct(cluster, cluster.proxies[1].port, "/shared-after", cookies) == 200
            for n in range(2):
                assert (await first.get(f"{url}/kept-{n}", follow=False))[0].status == 200

        # Every login's session is in Redis. A login whose callback the killed replica had stored just
        # before it died is started again by sign_in (once), so the dead replica's session can be left
        # behind as well: it expires with its TTL, and no browser holds its cookie.
        assert REDIS_LOGINS + 1 <= len(await session_keys(redis_db)) <= 2 * REDIS_LOGINS + 1
        seen = {s.target for s in upstream.seen}
        assert {"/shared-0", "/shared-1", "/shared-after", "/kept-0", "/kept-1"} <= seen
        assert all(f"/after-{n}" in seen for n in range(1, REDIS_LOGINS + 1))
    finally:
        cluster.stop()


def _kid(authorization: str) -> str:
    token = authorization.removeprefix("Bearer ").strip()
    header = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def kids_seen(upstream: Upstream, prefix: str) -> set[str]:
    """The ``kid`` of the ID tokens the proxy passed upstream on requests to paths starting ``prefix``."""
    kids = set()
    for s in upstream.seen:
        auth = {k.lower(): v for k, v in s.headers.items()}.get("authorization")
        if s.target.startswith(prefix) and auth:
            kids.add(_kid(auth))
    return kids


async def jwks_kids(url: str) -> set[str]:
    async with Browser() as b:
        hop = (await b.get(url))[-1]
    assert hop.status == 200, hop
    return {k["kid"] for k in json.loads(hop.body)["keys"]}


async def test_a_signing_key_rotation_mid_run_logs_nobody_out(
    tmp_path: Path, upstream: Upstream, database_url: str
) -> None:
    front = free_port()
    values = replica_values(front, upstream.port, tmp_path / "data", database_url)
    values["iap"]["deployments"]["grafana"]["config"]["pass_authorization_header"] = True  # kid upstream
    config = dump_values(values, tmp_path / "v.yaml")
    cluster = start_cluster(config, front, tmp_path)
    url = cluster.url("grafana").rstrip("/")
    before = [Browser() for _ in range(4)]
    try:
        for b in before:
            await b.__aenter__()
        # Sessions made before the rotation (both proxy replicas, both provider replicas take part).
        assert await asyncio.gather(*(sign_in(b, url, 900 + i) for i, b in enumerate(before))) == [
            (200, 200)
        ] * len(before)
        (old_kid,) = kids_seen(upstream, "/after-90")

        rotated: list[str] = []

        async def rotate_then_replace_the_providers() -> None:
            await asyncio.sleep(0.4)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "idgate", "keys", "rotate", "--config", str(config),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out = (await proc.communicate())[0].decode()
            assert proc.returncode == 0, out
            rotated.append(out.split("rotated: ", 1)[1].split()[0])
            for i in range(2):  # a rolling replacement of the provider pair
                old = cluster.providers[i]
                await asyncio.to_thread(cluster.restart, old, "provider", tmp_path / f"provider-{i}b.log")

        async def staggered(n: int) -> tuple[int, int]:
            await asyncio.sleep(n * 0.1)
            return await login(url, n)

        results, _ = await asyncio.gather(
            asyncio.gather(*(staggered(n) for n in range(ROTATION_LOGINS))),
            rotate_then_replace_the_providers(),
        )
        assert results == [(200, 200)] * ROTATION_LOGINS, results

        # Logins started after the rotation and the replacement: the new key signs them.
        after = await asyncio.gather(*(login(url, 500 + n) for n in range(6)))
        assert after == [(200, 200)] * 6, after
        (new_kid,) = rotated
        assert new_kid != old_kid
        assert kids_seen(upstream, "/after-50") == {new_kid}, "the replaced providers sign with the new key"
        for _ in range(2):  # both provider replicas publish the old and the new key
            assert {old_kid, new_kid} <= await jwks_kids(cluster.url("kkp", "/dex/keys"))

        # The sessions made before the rotation still pass, on both proxy replicas.
        for i, b in enumerate(before):
            for n in range(2):
                assert (await b.get(f"{url}/still-{i}-{n}", follow=False))[0].status == 200
    finally:
        for b in before:
            if b.http is not None:
                await b.__aexit__(None, None, None)
        cluster.stop()

"""``idgate serve --workers N``: N processes share the port, and a login that starts in one worker
finishes in whichever worker the kernel picks next (state lives in storage and in cookies); a sign-out in
one worker ends the session in every worker."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
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
    start_idgate,
    stop_idgate,
)

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


async def test_two_workers_share_the_port_and_sessions(tmp_path: Path, upstream: Upstream) -> None:
    port = free_port()
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump(local_values(port, upstream.port, tmp_path / "data")))
    running = start_idgate(["serve", "--config", str(config), "--workers", "2"], port, tmp_path / "w.log")
    try:
        workers = children(running.process.pid)
        assert len(workers) == 2, workers
        for _ in range(4):  # fresh browsers: each login crosses workers at random
            async with Browser() as b:
                hops = await b.get(running.url("grafana", "/w"))
                hops = await b.submit(hops[-1], {"login": EMAIL, "password": PASSWORD})
                assert hops[-1].status == 200, [(h.url, h.status) for h in hops]
                for _ in range(5):
                    again = await b.get(running.url("grafana", "/again"), follow=False)
                    assert again[0].status == 200
    finally:
        assert stop_idgate(running) == 0, running.output()
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


async def fresh_connection_get(running: Running, path: str, cookies: dict[str, str]) -> int:
    """GET ``path`` on a new connection (the kernel picks a worker for each): the status."""
    headers = {
        "Host": f"grafana.localhost:{running.port}",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
    }
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(f"http://127.0.0.1:{running.port}{path}", headers=headers, allow_redirects=False) as r,
    ):
        return r.status


async def test_sign_out_in_one_worker_ends_the_copied_cookie_in_both(
    tmp_path: Path, upstream: Upstream
) -> None:
    """Issue 18: the workers share the revocation list through the SQLite file. A copied cookie accepted
    by both workers (many fresh connections) is refused by both within a few seconds of sign-out:
    20 refusals in a row on fresh connections, each landing on either worker."""
    port = free_port()
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump(local_values(port, upstream.port, tmp_path / "data")))
    running = start_idgate(["serve", "--config", str(config), "--workers", "2"], port, tmp_path / "w.log")
    try:
        async with Browser() as b:
            hops = await b.get(running.url("grafana", "/w"))
            hops = await b.submit(hops[-1], {"login": EMAIL, "password": PASSWORD})
            assert hops[-1].status == 200, [(h.url, h.status) for h in hops]
            copied = b.cookies_for(running.url("grafana"))
        for n in range(20):  # both workers accept it (and keep it in their memo)
            assert await fresh_connection_get(running, f"/before-{n}", copied) == 200
        assert await fresh_connection_get(running, "/oauth/sign_out", copied) == 302
        signed_out = time.monotonic()
        refused_in_a_row = 0
        while refused_in_a_row < 20 and time.monotonic() - signed_out < 15.0:
            status = await fresh_connection_get(running, "/after", copied)
            refused_in_a_row = refused_in_a_row + 1 if status == 302 else 0
        elapsed = time.monotonic() - signed_out
        assert refused_in_a_row == 20, f"still accepted {elapsed:.1f} s after sign-out"
        assert elapsed < 5.0, f"refused by both workers only after {elapsed:.1f} s"
    finally:
        assert stop_idgate(running) == 0, running.output()

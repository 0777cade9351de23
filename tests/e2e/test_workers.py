"""``idgate serve --workers N``: N processes share the port, and a login that starts in one worker
finishes in whichever worker the kernel picks next (state lives in storage and in cookies)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import EMAIL, PASSWORD, Upstream, free_port, local_values, start_idgate, stop_idgate

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

"""``idgate init --local`` writes a file that ``idgate serve --config`` runs: log in and reach the service."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import Upstream, free_port, start_idgate, stop_idgate

pytestmark = pytest.mark.e2e

PASSWORD_LINE = re.compile(r"log in as (\S+) with password (\S+)")


def idgate_init(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "idgate", "init", *args], capture_output=True, text=True, check=True
    )


async def test_local_init_then_serve_logs_in_to_the_service(tmp_path: Path, upstream: Upstream) -> None:
    port = free_port()
    values = tmp_path / "values.yaml"
    made = idgate_init(
        "--local", "--port", str(port), "--service", f"demo=127.0.0.1:{upstream.port}", "--out", str(values)
    )
    match = PASSWORD_LINE.search(made.stderr)
    assert match, made.stderr
    email, password = match.groups()

    running = start_idgate(
        ["serve", "--config", str(values), "--data-dir", str(tmp_path / "data")],
        port,
        tmp_path / "idgate.log",
    )
    try:
        upstream.clear()
        async with Browser() as b:
            hops = await b.get(running.url("demo", "/graph?x=1"))
            login = hops[-1]
            assert login.status == 200 and login.url.startswith(f"http://localhost:{port}/dex/"), [
                (h.url, h.status) for h in hops
            ]
            assert 'name="password"' in login.body
            hops = await b.submit(login, {"login": email, "password": password})
        assert hops[-1].status == 200, ([(h.url, h.status) for h in hops], running.output())
        assert hops[-1].url == running.url("demo", "/graph?x=1")
        assert upstream.seen[-1].target == "/graph?x=1"
        assert upstream.seen[-1].headers.get("X-Forwarded-Email") == email
    finally:
        assert stop_idgate(running) == 0, running.output()

"""What a running server keeps in memory: the config models (pydantic, ~12 MB per process) stay in the
child that reads the values file (``idgate.config.apart``); the server gets plain settings. Nor does it
keep what it does not use (issue 21): the administration commands, Alembic and SQLAlchemy, libstdc++
(frozenlist's C++ extension), Jinja2 before a page is shown."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
    wait_listening,
)

pytestmark = pytest.mark.e2e


def loaded_files(pid: int) -> set[str]:
    """The paths of what the process has mapped (its shared libraries and extension modules)."""
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            paths.add(parts[5])
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_a_server_never_loads_the_config_models(tmp_path: Path, workers: int) -> None:
    port = free_port()
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(local_values(port, free_port(), tmp_path / "data")))
    running = start_idgate(
        ["serve", "--config", str(values), "--workers", str(workers)], port, tmp_path / "idgate.log"
    )
    try:
        pid = running.process.pid
        wanted = workers if workers > 1 else 0  # with workers: a supervisor and its forks
        for _ in range(100):  # the forks come up just after the port listens
            children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            serving = children or [pid]
            if len(children) == wanted and all(
                any("/httptools/parser/" in f for f in loaded_files(p)) for p in serving
            ):
                break
            time.sleep(0.1)
        assert len(children) == wanted
        for process in [pid, *children]:
            assert not [f for f in loaded_files(process) if "/pydantic" in f], process
        for process in serving:  # what serving needs is mapped, so the lists are the servers' own
            files = loaded_files(process)
            assert any("/httptools/parser/" in f for f in files), process
            assert not [f for f in files if "/libstdc++" in f], process
    finally:
        stop_idgate(running)


# What a server would keep for its whole life without using it: the administration commands and what they
# import, Alembic and SQLAlchemy once a SQLite file is current, Jinja2 in a process that has shown no page.
_REPORT = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["REPORT"], "w").write(json.dumps(sorted(sys.modules))))
from idgate.cli import main
main(sys.argv[1:], prog_name="idgate")
"""
ADMIN_COMMANDS = {f"idgate.cli.{c}" for c in ("check", "client", "init", "keys", "render", "secret", "user")}


def modules_at_exit(tmp_path: Path, args: list[str], port: int, work: Callable[[Running], None]) -> set[str]:
    """The modules of ``idgate ARGS`` once it has served ``work`` and stopped (SIGTERM)."""
    report, log = tmp_path / "modules.json", tmp_path / f"idgate-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _REPORT, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "REPORT": str(report)},
        )
    wait_listening(port, process, log)
    running = Running(port, process, log)
    try:
        work(running)
    finally:
        assert stop_idgate(running) == 0, running.output()
    return set(json.loads(report.read_text()))


def test_a_signed_in_server_leaves_out_what_it_does_not_use(tmp_path: Path) -> None:
    port = free_port()
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(local_values(port, free_port(), tmp_path / "data")))

    def sign_in(running: Running) -> None:
        async def go() -> None:
            async with Browser() as b:
                hops = await b.get(running.url("grafana"))
                done = await b.submit(hops[-1], {"login": EMAIL, "password": PASSWORD})
                assert b.cookies_for(running.url("grafana")), [(h.url, h.status) for h in done]

        asyncio.run(go())

    loaded = modules_at_exit(tmp_path, ["serve", "--config", str(values)], port, sign_in)
    assert "idgate.provider" in loaded and "idgate.cli.serve" in loaded  # what it ran
    assert not loaded & ADMIN_COMMANDS
    assert not {"alembic", "sqlalchemy"} & loaded


def test_a_proxy_that_has_shown_no_page_has_no_jinja2(tmp_path: Path) -> None:
    port = free_port()
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(local_values(port, free_port(), tmp_path / "data")))

    def unauthenticated(running: Running) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        conn.request("GET", "/", headers={"Host": f"grafana.localhost:{port}", "Accept": "text/html"})
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("Location")) == (302, "/oauth/start?rd=%2F")
        conn.close()

    args = ["serve", "--config", str(values), "--role", "proxy"]
    loaded = modules_at_exit(tmp_path, args, port, unauthenticated)
    assert "idgate.proxy.web" in loaded and "idgate.provider" not in loaded
    assert "jinja2" not in loaded

"""What a running server keeps in memory: the config models (pydantic, ~12 MB per process) stay in the
child that reads the values file (``idgate.config.apart``); the server gets plain settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from tests.e2e.harness import free_port, local_values, start_idgate, stop_idgate

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
    finally:
        stop_idgate(running)

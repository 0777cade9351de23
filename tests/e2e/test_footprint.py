"""What a running server keeps in memory: the config models (pydantic, ~12 MB per process) stay in the
child that reads the values file (``idgate.config.apart``); the server gets plain settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.e2e.harness import free_port, local_values, start_idgate, stop_idgate

pytestmark = pytest.mark.e2e


def loaded_libraries(pid: int) -> set[str]:
    """The file names of what the process has mapped (its shared libraries and extension modules)."""
    names = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            names.add(Path(parts[5]).name)
    return names


@pytest.mark.parametrize("workers", [1, 2])
def test_a_server_never_loads_the_config_models(tmp_path: Path, workers: int) -> None:
    port = free_port()
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(local_values(port, free_port(), tmp_path / "data")))
    running = start_idgate(
        ["serve", "--config", str(values), "--workers", str(workers)], port, tmp_path / "idgate.log"
    )
    try:
        libraries = loaded_libraries(running.process.pid)
        assert any(name.startswith("_http_parser") or "httptools" in name for name in libraries), libraries
        assert not [name for name in libraries if "pydantic" in name]
    finally:
        stop_idgate(running)

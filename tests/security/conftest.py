"""Fixtures of the adversarial suite: the real product (``idgate serve`` as a subprocess, the KKP example
values moved onto loopback, see ``tests/e2e/harness.py``) and a recording upstream. Each test module gets
its own idgate (module scope), so a module that locks accounts or fills the log cannot disturb another."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.harness import (
    Running,
    Upstream,
    free_port,
    local_values,
    recording_upstream,
    start_idgate,
    stop_idgate,
)

Values = dict[str, Any]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """A real HTTP server that records every request it receives (``harness.recording_upstream``)."""
    with recording_upstream() as record:
        yield record


def run_idgate(
    tmp: Path,
    upstream: Upstream,
    *,
    adjust: Callable[[Values], None] | None = None,
    env: dict[str, str] | None = None,
) -> Running:
    port = free_port()
    values = local_values(port, upstream.port, tmp / "data")
    if adjust is not None:
        adjust(values)
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    return start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log", env=env)


@pytest.fixture(scope="module")
def idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """``idgate serve`` with the KKP example values on loopback."""
    running = run_idgate(tmp_path_factory.mktemp("idgate"), upstream)
    yield running
    assert stop_idgate(running) == 0, running.output()

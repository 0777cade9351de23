"""Fixtures for end-to-end tests: see ``harness.py`` for what they run."""

from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """A real HTTP server that records every request it receives (``harness.recording_upstream``)."""
    with recording_upstream() as record:
        yield record


@pytest.fixture(scope="module")
def idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """``idgate serve --config values.yaml`` with the KKP example values, as a subprocess."""
    tmp = tmp_path_factory.mktemp("idgate")
    port = free_port()
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(local_values(port, upstream.port, tmp / "data")))
    running = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log")
    yield running
    assert stop_idgate(running) == 0, running.output()

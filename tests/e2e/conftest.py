"""Fixtures for end-to-end tests: see ``harness.py`` for what they run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml
from tests.e2e.harness import (
    Running,
    Seen,
    Upstream,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """A real HTTP server that records every request it receives and answers 200."""
    record = Upstream(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            record.seen.append(Seen(self.command, self.path, dict(self.headers.items()), body))
            payload = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


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

"""Fixtures of the adversarial suite: the real product (``idgate serve`` as a subprocess, the KKP example
values moved onto loopback, see ``tests/e2e/harness.py``) and a recording upstream. Each test module gets
its own idgate (module scope), so a module that locks accounts or fills the log cannot disturb another."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.harness import Running, Seen, Upstream, free_port, local_values, start_idgate, stop_idgate

Values = dict[str, Any]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """A real HTTP server that records every request it receives and answers 200 with JSON."""
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

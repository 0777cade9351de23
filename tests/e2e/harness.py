"""Helpers that run idgate for real: a values file like the KKP example, ``idgate serve`` as a
subprocess on a free port, and a recording upstream that stands in for Prometheus and friends."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PASSWORD = "password"  # bcrypt("password") is the hash in the KKP example values
EMAIL = "kubermatic@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    port: int
    seen: list[Seen] = field(default_factory=list)

    def clear(self) -> None:
        self.seen.clear()


@contextmanager
def recording_upstream() -> Iterator[Upstream]:
    """A real HTTP server on 127.0.0.1 that records every request it receives and answers 200 (JSON)."""
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
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def local_values(port: int, upstream_port: int, data_dir: Path) -> dict[str, Any]:
    """The KKP example values (kkp-values.md §6), moved onto this machine.

    Hosts become ``*.localhost:<port>`` over plain http, every upstream is the recording server,
    and the GitHub connector (unreachable here) is dropped; everything else is kept as written.
    """
    values: dict[str, Any] = yaml.safe_load((FIXTURES / "kkp-values.yaml").read_text())
    dex, iap = values["dex"], values["iap"]
    dex["ingress"].update(host=f"kkp.localhost:{port}", scheme="http")
    dex.pop("connectors", None)
    for client in dex["clients"]:
        client["RedirectURIs"] = [f"http://{client['id']}.localhost:{port}/oauth/callback"]
    iap["oidc_issuer_url"] = f"http://kkp.localhost:{port}/dex"
    for deployment in iap["deployments"].values():
        deployment["ingress"]["host"] = f"{deployment['name']}.localhost:{port}"
        deployment["upstream_service"] = "127.0.0.1"
        deployment["upstream_port"] = upstream_port
    values["idgate"] = {
        "listen": f"127.0.0.1:{port}",
        "data_dir": str(data_dir),
        "storage": f"sqlite:///{data_dir}/idgate.db",
    }
    return values


@dataclass
class Running:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, service: str, path: str = "/") -> str:
        return f"http://{service}.localhost:{self.port}{path}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"idgate exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"idgate did not listen on {port} within {timeout}s:\n{log.read_text()}")


def start_idgate(args: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> Running:
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "idgate", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    wait_listening(port, process, log)
    return Running(port, process, log)


def flushed(running: Running, timeout: float = 10.0) -> str:
    """The log once every access line of the requests answered so far is in it (``idgate serve`` writes
    them in batches, at least every second): one more request of its own, to a host idgate does not
    serve, is waited for; lines are written in order. Then the log. (One worker: with ``--workers N``
    the others flush on their own.)"""
    marker = f"flush-{secrets.token_hex(6)}"
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "flush.invalid", "X-Request-Id": marker})
        conn.getresponse().read()
    finally:
        conn.close()
    deadline = time.monotonic() + timeout
    while marker not in (log := running.output()):
        assert time.monotonic() < deadline, f"the access line of {marker} was not written:\n{log[-3000:]}"
        time.sleep(0.05)
    return log


def stop_idgate(running: Running) -> int:
    running.process.terminate()
    try:
        return running.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        running.process.kill()
        raise AssertionError("idgate did not stop within 10 s of SIGTERM") from None

"""Issue 21: a real ``idgate serve`` writes one access line per request, in batches on stderr: within about
a second without more traffic, every line of the requests it answered before a SIGTERM, and it keeps
answering when stderr is a pipe nobody reads or a pipe whose reader is gone, counting the lines it drops
in ``/metrics``."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from tests.e2e.harness import (
    Running,
    Upstream,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
    wait_listening,
)

pytestmark = pytest.mark.e2e

_DROPPED = re.compile(r"^idgate_log_lines_dropped_total (\S+)$", re.M)


def values_file(tmp: Path, upstream: Upstream, port: int, metrics_port: int | None = None) -> Path:
    values = local_values(port, upstream.port, tmp / "data")
    if metrics_port is not None:
        values["idgate"]["metrics_listen"] = f"127.0.0.1:{metrics_port}"
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    return config


def get_all(port: int, requests: list[tuple[str, str, dict[str, str]]]) -> list[int]:
    """``(host, path, headers)`` one after the other on one keep-alive connection: their statuses."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    statuses = []
    try:
        for host, path, headers in requests:
            conn.request("GET", path, headers={"Host": host, **headers})
            answer = conn.getresponse()
            answer.read()
            statuses.append(answer.status)
    finally:
        conn.close()
    return statuses


def dropped(metrics_port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        found = _DROPPED.search(conn.getresponse().read().decode())
    finally:
        conn.close()
    assert found, "no idgate_log_lines_dropped_total in /metrics"
    return float(found.group(1))


def test_a_line_is_written_within_about_a_second_without_more_traffic(idgate: Running) -> None:
    marker = f"soon-{time.monotonic_ns()}"
    assert get_all(idgate.port, [("nowhere.localhost", "/soon", {"X-Request-Id": marker})]) == [404]
    deadline = time.monotonic() + 3.0  # flushed every second
    while marker not in idgate.output():
        assert time.monotonic() < deadline, idgate.output()[-2000:]
        time.sleep(0.05)
    (line,) = [x for x in idgate.output().splitlines() if marker in x]
    assert " INFO idgate.access 127.0.0.1 GET nowhere.localhost /soon 404 " in line
    assert line.endswith(f" deployment=- user=- decision=- reason=unknown_host request_id={marker}")


def test_sigterm_loses_no_line(tmp_path: Path, upstream: Upstream) -> None:
    port = free_port()
    config = values_file(tmp_path, upstream, port)
    running = start_idgate(["serve", "--config", str(config)], port, tmp_path / "idgate.log")
    grafana = f"grafana.localhost:{port}"
    kinds = [(grafana, "/d/x"), (grafana, "/oauth/healthy"), ("nowhere.localhost", "/")]
    requests = [(*kinds[n % 3], {"X-Request-Id": f"last-{n}"}) for n in range(300)]
    try:
        assert set(get_all(port, requests)) == {302, 200, 404}
    finally:
        assert stop_idgate(running) == 0, running.output()[-3000:]  # at once: most lines are still buffered
    lines = [x for x in running.output().splitlines() if " INFO idgate.access " in x]
    ids = [x.rsplit(" request_id=", 1)[1] for x in lines]
    assert sorted(ids) == sorted(f"last-{n}" for n in range(300))
    assert all("deployment=grafana" in x for x in lines if " /d/x 302 " in x)
    assert all(" user=- decision=deny reason=unauthenticated " in x for x in lines if " /d/x " in x)


def serve_to(config: Path, stderr: int | IO[Any]) -> subprocess.Popen[bytes]:
    """``idgate serve`` with ``stderr`` as its stderr (``wait_listening`` shows ``config``: there is no
    log to show)."""
    return subprocess.Popen(
        [sys.executable, "-m", "idgate", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=os.environ.copy(),
    )


@pytest.fixture
def unread(tmp_path: Path, upstream: Upstream) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """``idgate serve`` whose stderr is a pipe (64 KiB) nobody reads: (process, port, metrics port)."""
    port, metrics_port = free_port(), free_port()
    config = values_file(tmp_path, upstream, port, metrics_port)
    r, w = os.pipe()
    process = serve_to(config, w)
    os.close(w)
    try:
        wait_listening(port, process, config, timeout=30)
        wait_listening(metrics_port, process, config, timeout=10)
        yield process, port, metrics_port
    finally:
        process.kill()  # its SIGTERM path logs "stopping" through logging, to the same full pipe
        process.wait(timeout=10)
        os.close(r)


def test_a_pipe_nobody_reads_never_stops_the_answers_and_drops_are_counted(
    unread: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    """2,000 lines of over 3 KB (a long path) are more than the pipe and the 4 MiB bound together."""
    _, port, metrics_port = unread
    path = "/" + "x" * 3000
    statuses = get_all(port, [("nowhere.localhost", path, {}) for _ in range(2000)])
    assert statuses == [404] * 2000
    assert dropped(metrics_port) > 0
    assert get_all(port, [(f"grafana.localhost:{port}", "/oauth/healthy", {})]) == [200]


def test_a_pipe_whose_reader_is_gone_never_stops_the_answers(tmp_path: Path, upstream: Upstream) -> None:
    port, metrics_port = free_port(), free_port()
    config = values_file(tmp_path, upstream, port, metrics_port)
    r, w = os.pipe()
    os.close(r)  # every write to stderr fails (EPIPE)
    process = serve_to(config, w)
    os.close(w)
    try:
        wait_listening(port, process, config, timeout=30)
        wait_listening(metrics_port, process, config, timeout=10)
        assert get_all(port, [("nowhere.localhost", "/", {}) for _ in range(200)]) == [404] * 200
        deadline = time.monotonic() + 5.0  # failures are counted when the next batch is flushed
        while dropped(metrics_port) < 200:
            assert time.monotonic() < deadline, dropped(metrics_port)
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)  # nothing waits for a stderr that takes nothing
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

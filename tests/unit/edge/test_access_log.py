"""Issue 21: one access line per request, formatted by the edge and written in batches.

The text and JSON lines say what their fields say, the same through ``logging`` as from the batched
writer; a value from a client cannot forge a field or a line; the writer writes whole lines, at most
PIPE_BUF bytes at a time, so that workers sharing a pipe never interleave; it flushes on its own within
about a second; and a pipe nobody reads, a full disk or a closed stderr never blocks it: lines beyond the
bound are dropped and counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tests.unit.edge.conftest import Client, Env, alice, seal

from idgate.edge.access_log import PIPE_BUF, AccessLog, BatchedAccessLog
from idgate.edge.stats import EdgeStats, EdgeStatsCollector
from idgate.runtime.logs import JsonFormatter, TextFormatter, batched_access_log

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"
T = 1_800_000_000.25  # the wall time of every line here
FIELDS: dict[str, object] = {
    "client": "203.0.113.7",
    "method": "GET",
    "host": "grafana.example.com",
    "path": "/d/x",
    "status": 200,
    "ms": 3.0712,
    "deployment": "grafana",
    "user": "alice@example.com",
    "decision": "allow",
    "reason": "authenticated",
    "request_id": "4f1c2a9e0b7d-1b",
}
#: What a client controls, crafted to forge a field (a space and key=value) or a line (a newline).
CRAFTED: dict[str, object] = {
    **FIELDS,
    "client": "2001:db8::1",
    "host": "evil.test deployment=admin",
    "path": '/a"b\\c\n2026-01-01 00:00:00,000 INFO idgate.access forged',
    "user": "eve@evil.test decision=allow",
    "decision": "deny",
    "reason": "email_domain_not_allowed",
}
#: A request no gate decided, with no session and no deployment.
BARE: dict[str, object] = {
    **FIELDS,
    "deployment": "",
    "user": "",
    "decision": "",
    "reason": "",
    "status": 404,
}


class Chunks:
    """Takes the writer's place of ``os.write``: keeps every chunk it is given."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def __call__(self, data: memoryview) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def text(self) -> str:
        return b"".join(self.chunks).decode()


async def written(*lines: dict[str, object], as_json: bool = False) -> str:
    """What the batched writer writes for ``lines``, all at time ``T``."""
    chunks = Chunks()
    log = BatchedAccessLog(out=chunks, as_json=as_json, wall=lambda: T, stats=EdgeStats())
    log.start()
    for fields in lines:
        log.write(**fields)  # type: ignore[arg-type]
    await log.aclose()
    return chunks.text()


def record_of(fields: dict[str, object]) -> logging.LogRecord:
    """The record the logging sink makes for ``fields``, as if made at time ``T``."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("idgate.access")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        AccessLog().write(**fields)  # type: ignore[arg-type]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    (record,) = records
    record.created, record.msecs = T, 250.0
    return record


_TOKEN = re.compile(r'(?:([a-z_]+)=)?("(?:[^"\\]|\\.)*"|[^ "]+)')


def tokens(line: str) -> list[tuple[str | None, str]]:
    """A text line's fields after ``time level logger``, a JSON string read as the value it holds."""
    rest = line.split(" idgate.access ", 1)[1].removesuffix("\n")
    out: list[tuple[str | None, str]] = []
    pos = 0
    while pos < len(rest):
        found = _TOKEN.match(rest, pos)
        assert found, rest[pos:]
        key, raw = found.groups()
        out.append((key, json.loads(raw) if raw.startswith('"') else raw))
        pos = found.end()
        if pos < len(rest):
            assert rest[pos] == " ", rest[pos:]
            pos += 1
    return out


# -- the line --------------------------------------------------------------------------------------------
async def test_a_text_line_says_what_its_fields_say() -> None:
    asctime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T)) + ",250"
    assert await written(FIELDS, BARE) == (
        f"{asctime} INFO idgate.access 203.0.113.7 GET grafana.example.com /d/x 200 3.07ms deployment=grafana"
        " user=alice@example.com decision=allow reason=authenticated request_id=4f1c2a9e0b7d-1b\n"
        f"{asctime} INFO idgate.access 203.0.113.7 GET grafana.example.com /d/x 404 3.07ms deployment=-"
        " user=- decision=- reason=- request_id=4f1c2a9e0b7d-1b\n"
    )


async def test_a_json_line_carries_the_fields_as_keys() -> None:
    doc = json.loads(await written(FIELDS, as_json=True))
    assert doc == {
        "time": datetime.fromtimestamp(T, UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": "idgate.access",
        "message": "203.0.113.7 GET grafana.example.com /d/x 200 3.07ms deployment=grafana"
        " user=alice@example.com decision=allow reason=authenticated request_id=4f1c2a9e0b7d-1b",
        "client_ip": "203.0.113.7",
        "method": "GET",
        "host": "grafana.example.com",
        "path": "/d/x",
        "status": 200,
        "duration_ms": 3.071,
        "deployment": "grafana",
        "user": "alice@example.com",
        "decision": "allow",
        "reason": "authenticated",
        "request_id": "4f1c2a9e0b7d-1b",
    }


@pytest.mark.parametrize("fields", [FIELDS, CRAFTED, BARE], ids=["allowed", "crafted", "bare"])
async def test_the_batched_lines_are_what_logging_writes_for_the_record(fields: dict[str, object]) -> None:
    record = record_of(fields)
    assert await written(fields) == TextFormatter().format(record) + "\n"
    assert json.loads(await written(fields, as_json=True)) == json.loads(JsonFormatter().format(record))


async def test_a_crafted_host_path_or_login_forges_no_field_and_no_line() -> None:
    line = await written(CRAFTED)
    assert line.count("\n") == 1 and line.endswith("\n")
    assert tokens(line) == [
        (None, "2001:db8::1"),
        (None, "GET"),
        (None, "evil.test deployment=admin"),
        (None, '/a"b\\c\n2026-01-01 00:00:00,000 INFO idgate.access forged'),
        (None, "200"),
        (None, "3.07ms"),
        ("deployment", "grafana"),
        ("user", "eve@evil.test decision=allow"),
        ("decision", "deny"),
        ("reason", "email_domain_not_allowed"),
        ("request_id", "4f1c2a9e0b7d-1b"),
    ]
    doc = json.loads(await written(CRAFTED, as_json=True))
    assert (doc["host"], doc["path"], doc["user"]) == (CRAFTED["host"], CRAFTED["path"], CRAFTED["user"])


# -- through the edge ------------------------------------------------------------------------------------
async def test_each_request_is_one_line_with_the_user_and_the_gates_decision(
    env: Env, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert (await client.get("/x?token=abc", headers=AUTH)).status == 200
        assert (await client.get("/x")).status == 302
        assert (await client.get("/oauth/healthy")).status == 200
        assert (await client.get("/", host="nowhere.test x=1")).status == 404
    records = [r for r in caplog.records if r.name in ("idgate.access", "idgate.audit")]
    assert [r.name for r in records] == ["idgate.access"] * 4, "no audit line beside the access line"
    said = [(r.__dict__["user"], r.__dict__["decision"], r.__dict__["reason"]) for r in records]
    assert said == [
        ("alice@example.com", "allow", "authenticated"),
        ("", "deny", "unauthenticated"),
        ("", "", ""),
        ("", "", "unknown_host"),
    ]
    first = records[0].getMessage()
    assert " GET app.test /x 200 " in first and "token" not in first
    assert " deployment=app user=alice@example.com decision=allow reason=authenticated request_id=" in first
    assert " deployment=app user=- decision=deny reason=unauthenticated " in records[1].getMessage()
    assert ' GET "nowhere.test x=1" / 404 ' in records[3].getMessage()


class TestBatchedThroughTheEdge:
    @pytest.fixture
    def chunks(self) -> Chunks:
        return Chunks()

    @pytest.fixture
    async def access_log(self, chunks: Chunks) -> AsyncIterator[BatchedAccessLog]:
        log = BatchedAccessLog(out=chunks, stats=EdgeStats())
        log.start()
        yield log
        await log.aclose()

    async def test_the_edge_hands_its_lines_to_the_batched_writer(
        self,
        env: Env,
        client: Client,
        access_log: BatchedAccessLog,
        chunks: Chunks,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        with caplog.at_level(logging.INFO):
            assert (await client.get("/x", headers=AUTH + "X-Request-Id: batched-1\r\n")).status == 200
            assert (await client.get("/x", headers="X-Request-Id: batched-2\r\n")).status == 302
        assert not [r for r in caplog.records if r.name == "idgate.access"], "not through logging"
        await access_log.aclose()
        first, second = chunks.text().splitlines()
        assert " INFO idgate.access 127.0.0.1 GET app.test /x 200 " in first
        assert first.endswith(
            " user=alice@example.com decision=allow reason=authenticated request_id=batched-1"
        )
        assert second.endswith(" user=- decision=deny reason=unauthenticated request_id=batched-2")


# -- writing ---------------------------------------------------------------------------------------------
async def test_writes_are_whole_lines_of_at_most_pipe_buf_bytes() -> None:
    chunks = Chunks()
    log = BatchedAccessLog(out=chunks, stats=EdgeStats(), interval=3600.0)
    log.start()
    rng = random.Random(21)
    paths = ["/" + "p" * rng.randrange(0, 1200) for _ in range(3000)]
    paths[1500] = "/" + "L" * 6000  # longer than PIPE_BUF: written alone
    for n, path in enumerate(paths):
        log.write(**{**FIELDS, "path": path, "request_id": f"r{n}"})  # type: ignore[arg-type]
    await log.aclose()
    assert all(chunk.endswith(b"\n") for chunk in chunks.chunks)
    long = [chunk for chunk in chunks.chunks if b"LLLL" in chunk]
    assert len(long) == 1 and long[0].count(b"\n") == 1
    others = [chunk for chunk in chunks.chunks if b"LLLL" not in chunk]
    assert max(len(chunk) for chunk in others) <= PIPE_BUF
    assert sum(len(chunk) for chunk in others) / len(others) > PIPE_BUF / 2, (
        "chunks are filled, not a line each"
    )
    ids = [line.rsplit("request_id=", 1)[1] for line in chunks.text().splitlines()]
    assert ids == [f"r{n}" for n in range(len(paths))]


WRITER = r"""
import asyncio, sys
from idgate.edge.access_log import BatchedAccessLog
from idgate.edge.stats import EdgeStats

fd, name, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


async def main():
    log = BatchedAccessLog(fd, stats=EdgeStats())
    log.start()
    for i in range(n):
        log.write(client="127.0.0.1", method="GET", host="h", path="/" + name * (i * 7 % 1500), status=200,
                  ms=1.0, deployment="", user="", decision="", reason="", request_id=f"{name}-{i}")
        if i % 200 == 0:
            await asyncio.sleep(0)
    await log.aclose(60.0)


asyncio.run(main())
"""
_SHARED = re.compile(
    r"\S+ \S+ INFO idgate\.access 127\.0\.0\.1 GET h /([ABC]*) 200 1\.00ms deployment=- user=- decision=-"
    r" reason=- request_id=([ABC])-(\d+)"
)


def test_two_processes_sharing_a_pipe_never_interleave_mid_line() -> None:
    """Three writers (as three workers on one stderr) and a slow reader, so that the pipe is full at times
    (a write of more than PIPE_BUF bytes to a full pipe is then cut where another process's data goes)."""
    n = 3000
    r, w = os.pipe()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(w), name, str(n)], pass_fds=(w,))
        for name in ("A", "B", "C")
    ]
    os.close(w)
    data = bytearray()
    try:
        while chunk := os.read(r, 1024):
            data += chunk
            time.sleep(0.0001)
    finally:
        os.close(r)
        codes = [p.wait(timeout=60) for p in writers]
    assert codes == [0, 0, 0]
    seen: dict[str, list[int]] = {"A": [], "B": [], "C": []}
    for line in data.decode().splitlines():
        found = _SHARED.fullmatch(line)
        assert found, line[:200]
        path, name, i = found.group(1), found.group(2), int(found.group(3))
        assert path == name * (i * 7 % 1500), line[:200]
        seen[name].append(i)
    assert seen == {"A": list(range(n)), "B": list(range(n)), "C": list(range(n))}


def _drain(fd: int, until: threading.Event) -> bytes:
    """Read ``fd`` until ``until`` is set and nothing more came for half a second."""
    data = bytearray()
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            data += os.read(fd, 65536)
        elif until.is_set():
            return bytes(data)


async def test_a_pipe_nobody_reads_never_blocks_a_write_and_what_is_dropped_is_counted() -> None:
    r, w = os.pipe()
    stats = EdgeStats()
    bound = 64 * 1024
    log = BatchedAccessLog(w, stats=stats, max_pending=bound, flush_bytes=4096, interval=3600.0)
    log.start()

    def burst() -> None:
        for n in range(2000):
            log.write(**{**FIELDS, "request_id": f"r{n}"})  # type: ignore[arg-type]

    writing = threading.Thread(target=burst, daemon=True)  # so that a blocked write fails, not hangs
    writing.start()
    await asyncio.to_thread(writing.join, 10)
    assert not writing.is_alive(), "a write blocked"
    dropped = stats.log_lines_dropped
    assert 0 < dropped < 2000
    assert log.pending() <= bound + PIPE_BUF
    # a reader comes at last: what was kept is written, in order, with one warning
    done = threading.Event()
    reading = asyncio.ensure_future(asyncio.to_thread(_drain, r, done))
    await log.aclose(10.0)
    done.set()
    lines = (await reading).decode().splitlines()
    os.close(r)
    os.close(w)
    kept = [int(line.rsplit("request_id=r", 1)[1]) for line in lines if " INFO idgate.access " in line]
    assert len(kept) == 2000 - dropped and kept == sorted(set(kept)), "every line kept, once, in order"
    warnings = [line for line in lines if " WARNING idgate.access " in line]
    assert len(warnings) == 1 and "idgate_log_lines_dropped_total" in warnings[0], warnings


def _unused_fd() -> int:
    for fd in range(900, 1000):
        try:
            os.fstat(fd)
        except OSError:
            return fd
    raise AssertionError("no unused file descriptor")


@pytest.fixture(params=["EPIPE: the reader is gone", "ENOSPC: a full disk", "EBADF: stderr closed"])
def broken(request: pytest.FixtureRequest) -> Iterator[int]:
    """A file descriptor every write to fails."""
    if request.param.startswith("EPIPE"):
        r, w = os.pipe()
        os.close(r)
        yield w
        os.close(w)
    elif request.param.startswith("ENOSPC"):
        fd = os.open("/dev/full", os.O_WRONLY)
        yield fd
        os.close(fd)
    else:
        yield _unused_fd()


async def test_lines_that_cannot_be_written_are_counted_and_the_writer_carries_on(broken: int) -> None:
    stats = EdgeStats()
    log = BatchedAccessLog(broken, stats=stats)
    log.start()
    for _ in range(3):
        for _ in range(40):
            log.write(**FIELDS)  # type: ignore[arg-type]
        log.flush()
    await log.aclose(5.0)
    assert stats.log_lines_dropped == 120
    assert log.pending() == 0


async def test_a_line_is_written_within_about_a_second_without_more_traffic() -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    log = BatchedAccessLog(w, stats=EdgeStats())
    log.start()
    try:
        log.write(**FIELDS)  # type: ignore[arg-type]
        data = b""
        for _ in range(150):  # polled for up to 3 s; the flush timer runs every second
            await asyncio.sleep(0.02)
            try:
                data += os.read(r, 65536)
            except BlockingIOError:
                continue
            if data.endswith(b"\n"):
                break
        assert data.endswith(b" request_id=4f1c2a9e0b7d-1b\n"), data
    finally:
        await log.aclose()
        os.close(r)
        os.close(w)


def test_above_info_no_line_is_written_at_all() -> None:
    logger = logging.getLogger("idgate.access")
    old = logger.level
    try:
        logger.setLevel(logging.WARNING)
        assert batched_access_log("text") is None
        assert not AccessLog().enabled()
        logger.setLevel(logging.INFO)
        batched = batched_access_log("json")
        assert batched is not None and batched.json and batched.fd == 2
    finally:
        logger.setLevel(old)


def test_dropped_lines_are_a_prometheus_counter() -> None:
    from idgate.runtime.metrics import Metrics

    stats = EdgeStats()
    stats.log_lines_dropped = 7
    registry = CollectorRegistry()
    registry.register(EdgeStatsCollector(stats))  # type: ignore[arg-type]
    assert "idgate_log_lines_dropped_total 7.0" in generate_latest(registry).decode()
    metrics = Metrics(CollectorRegistry())  # --workers N: added to the multiprocess-mode counter
    last = stats.flush_into(metrics, None)
    stats.log_lines_dropped += 3
    stats.flush_into(metrics, last)
    assert metrics.log_lines_dropped._value.get() == 10

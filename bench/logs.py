"""The log files of the measured servers, and proof of what they wrote during a run.

The default-logging rows are numbers only if their logs were written: each row's file is counted from
where it ended before the run to where it ends after it, in lines (a newline each) and bytes, and a row
that wrote fewer than :data:`MIN_LINES_PER_REQUEST` lines per request fails (:class:`LogsNotWritten`).
The logs-off idgate rows are counted too, so a row labelled "logs off" that logs fails as well. Lines
are counted, not parsed: idgate's access line may change shape, and one or two lines per request both
say the requests were logged.

Loggers that write in batches (idgate's access log, flushed at least once a second) are given
:data:`FLUSH_SECONDS` after the warm-up and after the run (``measure`` in ``bench/run.py``), so that a
run counts its own lines, and the CPU of writing them, and not the warm-up's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Lines each request must add to a default-logging row's file: nginx and Apache write one per request,
#: idgate one or two (an access line, and an audit line until they become one). Under 0.9, lines are lost.
MIN_LINES_PER_REQUEST = 0.9
#: Lines per request a logs-off row may write (a warning now and then is not an access log).
MAX_LINES_LOGS_OFF = 0.01
#: How long a batched logger is given to write what it holds (idgate flushes at least every second).
FLUSH_SECONDS = 1.5
_CHUNK = 1 << 20


class LogsNotWritten(RuntimeError):
    """A row's log file did not get the lines its requests should have written (or got them when off)."""


@dataclass(frozen=True, slots=True)
class LogFile:
    """The file a measured server logs to; ``on``: default logging (lines expected), else logs off."""

    path: Path
    on: bool = True


@dataclass(frozen=True, slots=True)
class Written:
    """What one run added to a log file."""

    lines: int
    bytes: int

    def per_request(self, requests: int) -> tuple[float, float]:
        """(lines, bytes) per request."""
        return (self.lines / requests, self.bytes / requests) if requests else (0.0, 0.0)


def size(path: Path) -> int:
    """Where ``path`` ends now (0 while it does not exist)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _chunks(path: Path, offset: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        while chunk := f.read(_CHUNK):
            yield chunk


def written_since(path: Path, offset: int) -> Written:
    """The lines and bytes added to ``path`` after ``offset`` (read in chunks: a run writes megabytes)."""
    if size(path) <= offset:
        return Written(0, 0)
    lines = total = 0
    for chunk in _chunks(path, offset):
        lines += chunk.count(b"\n")
        total += len(chunk)
    return Written(lines, total)


def check(row: str, log: LogFile, written: Written, requests: int) -> None:
    """Raise :class:`LogsNotWritten` unless ``written`` is what ``requests`` should have left in ``log``."""
    lines, _ = written.per_request(requests)
    if log.on and (written.bytes == 0 or lines < MIN_LINES_PER_REQUEST):
        raise LogsNotWritten(
            f"{row}: {log.path} grew by {written.lines} lines ({written.bytes} bytes) for {requests} "
            f"requests, fewer than {MIN_LINES_PER_REQUEST} per request: its logs are missing, so the row "
            "would not measure default logging"
        )
    if not log.on and lines > MAX_LINES_LOGS_OFF:
        raise LogsNotWritten(
            f"{row}: {log.path} grew by {written.lines} lines for {requests} requests with access logs off "
            "(IDGATE_LOG_LEVEL=WARNING): the row would not measure idgate without logs"
        )

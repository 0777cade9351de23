"""The access log: one line per request, formatted here, and where it goes.

A line says who asked what and what the edge did, in one place (there is no separate audit line; this
one is cut in two to fit the page)::

    2026-12-06 19:40:09,433 INFO idgate.access 203.0.113.7 GET grafana.example.com /d/x 200 3.07ms
      deployment=grafana user=alice@example.com decision=allow reason=authenticated request_id=4f1c2a9e-1b

``time level logger``, then the client's address (behind the trusted proxies), method, host, path (never
the query), status and duration, then ``deployment``, ``user`` (the session's email), ``decision``
(``allow``/``deny`` where a deployment's gate decided) and ``reason`` (the decision's reasons, or the
edge's reason word for an error), ``request_id``. A missing value is ``-``. A value the client controls
(address, method, host, path, user) is written as it is when it is a plain token, else as a JSON string
(:func:`text_field`), so a crafted Host or login name cannot forge a field or a line. In JSON
(``--log-format json``) the line is one object: ``time``, ``level``, ``logger``, ``message`` (the text
above from the address on), then the fields as keys: ``client_ip``, ``method``, ``host``, ``path``,
``status``, ``duration_ms``, ``deployment``, ``user``, ``decision``, ``reason``, ``request_id`` (``""``
for a missing one).

Two sinks, one per :class:`~idgate.edge.connection.EdgeState`:

- :class:`AccessLog`, the default: a record on the ``idgate.access`` logger with that message and the
  fields as ``extra``, written when the logger is enabled for INFO (what in-process tests read with
  ``caplog``).
- :class:`BatchedAccessLog`, what ``idgate serve`` uses (:mod:`idgate.runtime.worker`): formats the line
  itself and appends its bytes to a buffer, with no ``logging`` on the request path. The buffer goes to a
  writer thread (one batch at a time) every second, when it passes :data:`FLUSH_BYTES`, and at shutdown;
  the thread writes it to the file descriptor (stderr) in chunks of at most :data:`PIPE_BUF` bytes cut at
  line boundaries, so the lines of several workers sharing one pipe never interleave mid-line. Nothing
  it does blocks the event loop: a pipe nobody reads, a full disk or a closed stderr holds up the thread
  only, and beyond :data:`MAX_PENDING` bytes not yet written, new lines are dropped and counted
  (``idgate_log_lines_dropped_total``, :mod:`idgate.edge.stats`), with one WARNING line when dropping
  starts. Write errors (``EPIPE``, ``EBADF``, ``ENOSPC`` ...) drop the batch and are counted the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii

from idgate.edge.stats import STATS, EdgeStats

__all__ = ["FLUSH_BYTES", "MAX_PENDING", "PIPE_BUF", "AccessLog", "BatchedAccessLog", "message", "text_field"]

LOGGER = "idgate.access"
#: The most bytes one ``write`` to a pipe puts in it at once (POSIX: at least 512; Linux: 4096).
PIPE_BUF = 4096
#: Buffered bytes that make a batch before the second is up.
FLUSH_BYTES = 64 * 1024
#: Bytes formatted but not yet written beyond which new lines are dropped.
MAX_PENDING = 4 * 1024 * 1024
#: Seconds between flushes of the buffer.
FLUSH_INTERVAL = 1.0

_access = logging.getLogger(LOGGER)
_TWO = tuple(f"{n:02d}" for n in range(100))
_THREE = tuple(f"{n:03d}" for n in range(1000))


def text_field(value: str) -> str:
    """``value`` in a text line: as it is when it is a plain token (printable ASCII without a space, a
    double quote or a backslash), else as a JSON string, so that a quote, a space or a control character
    cannot forge a field or a line."""
    return _text_field(value, encode_basestring_ascii(value))


def _text_field(value: str, quoted: str) -> str:
    """:func:`text_field` given ``value`` as a JSON string: that is ``value`` in quotes exactly when
    nothing in it needs escaping (one C call decides)."""
    return value if len(quoted) == len(value) + 2 and value and " " not in value else quoted


def message(
    *,
    client: str,
    method: str,
    host: str,
    path: str,
    status: int,
    ms: float,
    deployment: str,
    user: str,
    decision: str,
    reason: str,
    request_id: str,
) -> str:
    """The access line after ``time level logger`` (see the module docstring)."""
    return _message(
        client=text_field(client),
        method=text_field(method),
        host=text_field(host),
        path=text_field(path),
        status=status,
        ms=ms,
        deployment=deployment,
        user=text_field(user) if user else "-",
        decision=decision,
        reason=reason,
        request_id=request_id,
    )


def _message(
    *,
    client: str,
    method: str,
    host: str,
    path: str,
    status: int,
    ms: float,
    deployment: str,
    user: str,
    decision: str,
    reason: str,
    request_id: str,
) -> str:
    """:func:`message` from the client's values as they are written in text."""
    hundredths = int(ms * 100.0 + 0.5)  # "%.2f" without the format machinery
    return (
        f"{client} {method} {host} {path} {status} {hundredths // 100}.{_TWO[hundredths % 100]}ms "
        f"deployment={deployment or '-'} user={user} decision={decision or '-'} reason={reason or '-'} "
        f"request_id={request_id}"
    )


class AccessLog:
    """The access lines as records of the ``idgate.access`` logger (the default sink)."""

    def enabled(self) -> bool:
        """Whether a line would be written now (else the edge does not build one)."""
        return _access.isEnabledFor(logging.INFO)

    def write(
        self,
        *,
        client: str,
        method: str,
        host: str,
        path: str,
        status: int,
        ms: float,
        deployment: str,
        user: str,
        decision: str,
        reason: str,
        request_id: str,
    ) -> None:
        """One request's line. Through ``logging`` here without looking up the caller's frame (``findCaller``,
        a large share of a log call): the record carries the message, no arguments and the fields as
        ``extra``, and goes through the logger's filters and handlers."""
        text = message(
            client=client,
            method=method,
            host=host,
            path=path,
            status=status,
            ms=ms,
            deployment=deployment,
            user=user,
            decision=decision,
            reason=reason,
            request_id=request_id,
        )
        extra: dict[str, object] = {
            "client_ip": client,
            "method": method,
            "host": host,
            "path": path,
            "status": status,
            "duration_ms": int(ms * 1000.0 + 0.5) / 1000,  # as the batched JSON line writes it
            "deployment": deployment,
            "user": user,
            "decision": decision,
            "reason": reason,
            "request_id": request_id,
        }
        record = _access.makeRecord(LOGGER, logging.INFO, "(edge)", 0, text, (), None, extra=extra)
        _access.handle(record)


class BatchedAccessLog(AccessLog):
    """The access lines formatted here and written to ``fd`` in batches by a thread of their own.

    ``as_json``: one JSON object per line, else text. ``wall`` gives the time of a line (seconds since the
    epoch; text lines show it in local time as ``logging`` does, JSON lines in UTC as
    :class:`idgate.runtime.logs.JsonFormatter` does). ``stats`` counts the lines dropped. ``out``, when
    given, writes in place of ``os.write(fd, chunk)`` (it returns how many bytes it wrote, or raises
    ``OSError``). Call :meth:`start` on the event loop, and ``await`` :meth:`aclose` when the edge has
    stopped.
    """

    def __init__(
        self,
        fd: int = 2,
        *,
        as_json: bool = False,
        wall: Callable[[], float] = time.time,
        stats: EdgeStats | None = None,
        flush_bytes: int = FLUSH_BYTES,
        max_pending: int = MAX_PENDING,
        interval: float = FLUSH_INTERVAL,
        out: Callable[[memoryview], int] | None = None,
    ) -> None:
        self.fd = fd
        self._out = out
        self.json = as_json
        self._wall = wall
        self.stats = STATS if stats is None else stats
        self._flush_bytes = flush_bytes
        self._max_pending = max_pending
        self._interval = interval
        self._lines: list[bytes] = []
        self._size = 0  # bytes in _lines
        self._second = -1  # the second _prefix is for
        self._prefix = ""
        # Bytes handed to the thread (this side only) and bytes it is done with (the thread only), so
        # neither side updates a counter the other writes.
        self._handed = 0
        self._written = 0
        self._failed = 0  # lines the thread could not write (the thread only)
        self._failed_counted = 0  # of those, added to stats (this side only)
        self._dropped_here = 0  # lines dropped since the last tick
        self._written_seen = 0  # _written at the last tick
        self._failure = ""  # the thread's last write error
        self._warned = False
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- the event loop's side ----------------------------------------------------------------------
    def enabled(self) -> bool:
        return True  # built only when idgate.access logs INFO (idgate.runtime.worker)

    def start(self) -> None:
        """Start the writer thread and the flush timer on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._writer = threading.Thread(target=self._run, name="idgate-access-log", daemon=True)
        self._writer.start()
        self._timer = self._loop.call_later(self._interval, self._tick)

    def write(
        self,
        *,
        client: str,
        method: str,
        host: str,
        path: str,
        status: int,
        ms: float,
        deployment: str,
        user: str,
        decision: str,
        reason: str,
        request_id: str,
    ) -> None:
        if self.json:
            line = self._json_line(
                client=client,
                method=method,
                host=host,
                path=path,
                status=status,
                ms=ms,
                deployment=deployment,
                user=user,
                decision=decision,
                reason=reason,
                request_id=request_id,
            )
        else:
            text = message(
                client=client,
                method=method,
                host=host,
                path=path,
                status=status,
                ms=ms,
                deployment=deployment,
                user=user,
                decision=decision,
                reason=reason,
                request_id=request_id,
            )
            line = f"{self._time()} INFO idgate.access {text}\n"
        self.append(line.encode("utf-8"))

    def append(self, data: bytes) -> None:
        """Buffer ``data`` (whole lines), unless more than the bound is waiting: then drop and count it."""
        size = len(data)
        if self._handed - self._written + self._size + size > self._max_pending:
            self.stats.log_lines_dropped += 1
            self._dropped_here += 1
            if not self._warned:
                self._warn(f"more than {self._max_pending} bytes are waiting to be written")
            return
        self._lines.append(data)
        self._size += size
        if self._size >= self._flush_bytes:
            self.flush()

    def flush(self) -> None:
        """Hand what is buffered to the writer thread as one batch."""
        self._count_failures()
        if not self._lines:
            return
        batch = b"".join(self._lines)
        self._lines = []
        self._size = 0
        self._handed += len(batch)
        self._queue.put(batch)

    async def aclose(self, timeout: float = 5.0) -> None:
        """Flush, and let the thread write everything, waiting up to ``timeout`` seconds (stderr may be a
        pipe nobody reads: then the rest is left to the thread, which does not keep the process alive)."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        self._closed = True
        self._queue.put(None)
        thread = self._writer
        if thread is None:
            return
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._count_failures()

    def pending(self) -> int:
        """Bytes formatted and not yet written (buffered or with the thread)."""
        return self._handed - self._written + self._size

    def _tick(self) -> None:
        self.flush()
        written = self._written
        if self._warned and not self._dropped_here and written != self._written_seen:
            self._warned = False  # lines flow again: the next drop warns again
        self._written_seen = written
        self._dropped_here = 0
        loop = self._loop
        if loop is not None and not self._closed:
            self._timer = loop.call_later(self._interval, self._tick)

    def _count_failures(self) -> None:
        failed = self._failed
        if failed != self._failed_counted:
            self.stats.log_lines_dropped += failed - self._failed_counted
            self._dropped_here += failed - self._failed_counted
            self._failed_counted = failed
            if not self._warned:
                self._warn(f"writing to file descriptor {self.fd} failed: {self._failure}")

    def _warn(self, why: str) -> None:
        """One WARNING line when dropping starts, queued past the bound as a line of this log (through
        ``logging`` it would be written on the event loop, to the same stderr that does not take lines)."""
        self._warned = True
        if self._closed:
            return  # nothing is written any more
        text = f"access lines are being dropped ({why}); idgate_log_lines_dropped_total counts them"
        if self.json:
            fields = f'"level":"warning","logger":"idgate.access","message":{encode_basestring_ascii(text)}'
            line = f'{{"time":"{self._time()}",{fields}}}\n'
        else:
            line = f"{self._time()} WARNING idgate.access {text}\n"
        data = line.encode("utf-8")
        if self.pending() + len(data) <= self._max_pending + PIPE_BUF:  # a few past the bound, no more
            self._lines.append(data)
            self._size += len(data)

    def _time(self) -> str:
        """Now as ``logging`` writes ``asctime`` (``2026-12-06 19:40:02,113``, local time), or in JSON as
        ISO 8601 in UTC with milliseconds; the part up to the second is made once per second."""
        now = self._wall()
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json:
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            else:
                self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = _THREE[min(int((now - second) * 1000), 999)]
        if self.json:
            return f"{self._prefix}.{millis}+00:00"
        return f"{self._prefix},{millis}"

    def _json_line(
        self,
        *,
        client: str,
        method: str,
        host: str,
        path: str,
        status: int,
        ms: float,
        deployment: str,
        user: str,
        decision: str,
        reason: str,
        request_id: str,
    ) -> str:
        q = encode_basestring_ascii
        q_client, q_method, q_host, q_path, q_user = q(client), q(method), q(host), q(path), q(user)
        text = _message(
            client=_text_field(client, q_client),
            method=_text_field(method, q_method),
            host=_text_field(host, q_host),
            path=_text_field(path, q_path),
            status=status,
            ms=ms,
            deployment=deployment,
            user=_text_field(user, q_user) if user else "-",
            decision=decision,
            reason=reason,
            request_id=request_id,
        )
        thousandths = int(ms * 1000.0 + 0.5)
        return (
            f'{{"time":"{self._time()}","level":"info","logger":"idgate.access","message":{q(text)},'
            f'"client_ip":{q_client},"method":{q_method},"host":{q_host},"path":{q_path},'
            f'"status":{status},"duration_ms":{thousandths // 1000}.{_THREE[thousandths % 1000]},'
            f'"deployment":{q(deployment)},"user":{q_user},"decision":{q(decision)},'
            f'"reason":{q(reason)},"request_id":{q(request_id)}}}\n'
        )

    # -- the writer thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            self._write(batch)

    def _write(self, batch: bytes) -> None:
        """Write ``batch`` (whole lines) in chunks of at most PIPE_BUF bytes ending at a line's end (a line
        longer than that is written alone). An error drops the rest of the batch, counted by its lines."""
        view = memoryview(batch)
        total = len(batch)
        start = 0
        while start < total:
            end = start + PIPE_BUF
            if end >= total:
                end = total
            else:
                cut = batch.rfind(b"\n", start, end)
                if cut < 0:  # one line longer than PIPE_BUF
                    cut = batch.find(b"\n", end)
                    end = total if cut < 0 else cut + 1
                else:
                    end = cut + 1
            begin = start
            try:
                while start < end:
                    out = self._out
                    start += os.write(self.fd, view[start:end]) if out is None else out(view[start:end])
            except OSError as exc:
                self._failure = f"{exc.strerror or exc} (errno {exc.errno})"
                self._failed += batch.count(b"\n", start)
                self._written += total - begin
                return
            self._written += end - begin

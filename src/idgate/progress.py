"""What a long-running step is doing: one short line on stderr for commands, a log line for ``serve``.

Library code marks a step; the entry point decides, once, where steps are reported (:func:`report_to`;
the ``idgate`` command's stderr lines are :mod:`idgate.cli.progress`)::

    with step("Migrating storage from 0002 to 0003") as s:
        ...
        s.note = "3 tables"                  # optional, said with the time (else "done")

    idgate command (to_stderr)    Migrating storage from 0002 to 0003 ... 3 tables in 0.31 s
    idgate -q command             (nothing)
    idgate serve, library use     the ``idgate.progress`` logger at INFO: the start, then the time

Commands write their results on stdout and their progress on stderr, so ``idgate render kubernetes |
kubectl apply -f -`` and ``idgate init > values.yaml`` stay machine-readable. The ``idgate`` group
selects stderr (:func:`idgate.cli.progress.to_stderr`, nothing with ``--quiet``) and goes back to
logging when the command ends; ``idgate serve`` keeps logging (its stderr carries text or JSON log
lines). A step that ends with an exception says ``failed after`` and lets the exception go on.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import Protocol

__all__ = ["Sink", "Step", "report_to", "step", "to_log"]

log = logging.getLogger("idgate.progress")


class Step:
    """A step in progress; set :attr:`note` to add a word about the result (``"25 objects"``)."""

    __slots__ = ("note", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.note = ""


class Sink(Protocol):
    """Where steps are reported: told when one starts and when it ends."""

    def start(self, s: Step) -> None: ...

    def end(self, s: Step, seconds: float, failed: bool) -> None: ...


class _Log:
    """``serve`` and library use: the start and the end as INFO records."""

    def start(self, s: Step) -> None:
        log.info("%s ...", s.what)

    def end(self, s: Step, seconds: float, failed: bool) -> None:
        extra = {"step": s.what, "duration_ms": round(seconds * 1000, 1)}
        if failed:
            log.warning("%s: failed after %.2f s", s.what, seconds, extra=extra)
        else:
            log.info("%s: %s in %.2f s", s.what, s.note or "done", seconds, extra=extra)


_sink: Sink = _Log()


def report_to(sink: Sink) -> None:
    """Report steps to ``sink`` from now on (the ``idgate`` command's: :mod:`idgate.cli.progress`)."""
    global _sink  # noqa: PLW0603 - one reporting choice per process, made by the entry point
    _sink = sink


def to_log() -> None:
    """Report steps as log records (the default; ``idgate serve``)."""
    report_to(_Log())


@contextlib.contextmanager
def step(what: str) -> Iterator[Step]:
    """Report ``what`` while the block runs, then how long it took (or that it failed)."""
    sink = _sink
    s = Step(what)
    sink.start(s)
    started = time.perf_counter()
    try:
        yield s
    except BaseException:
        sink.end(s, time.perf_counter() - started, failed=True)
        raise
    sink.end(s, time.perf_counter() - started, failed=False)

"""What a long-running step is doing: one short line on stderr for commands, a log line for ``serve``.

Library code marks a step; the entry point decides, once, where steps are reported::

    with step("Migrating storage from 0002 to 0003") as s:
        ...
        s.note = "3 tables"                  # optional, said with the time (else "done")

    idgate command (to_stderr)    Migrating storage from 0002 to 0003 ... 3 tables in 0.31 s
    idgate -q command             (nothing)
    idgate serve, library use     the ``idgate.progress`` logger at INFO: the start, then the time

Commands write their results on stdout and their progress on stderr, so ``idgate render kubernetes |
kubectl apply -f -`` and ``idgate init > values.yaml`` stay machine-readable. The ``idgate`` group
selects stderr (:func:`to_stderr`, nothing with ``--quiet``) and goes back to logging when the command ends;
``idgate serve`` keeps logging (its stderr carries text or JSON log lines). A step that ends with an
exception says ``failed after`` and lets the exception go on. A step started while another is open
(a migration inside ``idgate keys rotate``) ends the open line first, and the outer step then repeats its
name with its time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

import click

__all__ = ["Step", "step", "to_log", "to_stderr"]

log = logging.getLogger("idgate.progress")


class Step:
    """A step in progress; set :attr:`note` to add a word about the result (``"25 objects"``)."""

    __slots__ = ("note", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.note = ""


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


class _Stderr:
    """Commands: ``what ... done in 0.31 s`` on stderr, the line left open while the step runs."""

    def __init__(self) -> None:
        self._open: Step | None = None  # the step whose line waits for its end

    def start(self, s: Step) -> None:
        if self._open is not None:
            click.echo("", err=True)  # a nested step: end the outer's line
        click.echo(f"{s.what} ... ", err=True, nl=False)
        self._open = s

    def end(self, s: Step, seconds: float, failed: bool) -> None:
        if self._open is not s:  # something else was written since: name the step again
            click.echo(f"{s.what} ... ", err=True, nl=False)
        self._open = None
        if failed:
            click.echo(f"failed after {seconds:.2f} s", err=True)
        else:
            click.echo(f"{s.note or 'done'} in {seconds:.2f} s", err=True)


class _Quiet:
    def start(self, s: Step) -> None:
        pass

    def end(self, s: Step, seconds: float, failed: bool) -> None:
        pass


_sink: _Log | _Stderr | _Quiet = _Log()


def to_stderr(*, quiet: bool = False) -> None:
    """Report steps on stderr from now on (nothing at all when ``quiet``): what commands do."""
    global _sink  # noqa: PLW0603 - one reporting choice per process, made by the entry point
    _sink = _Quiet() if quiet else _Stderr()


def to_log() -> None:
    """Report steps as log records (the default; ``idgate serve``)."""
    global _sink  # noqa: PLW0603
    _sink = _Log()


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

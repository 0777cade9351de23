"""Every process the bench starts goes through :class:`Supervisor`, which stops them all on the way out
(normal end, failure, Ctrl-C or SIGTERM): SIGTERM to the process group it created, SIGKILL after a grace."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, tail: int = 4000) -> str:
        """The last ``tail`` bytes of what it wrote (read from the end: a default-logging idgate's file
        holds hundreds of megabytes after a run)."""
        try:
            with self.log.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - tail))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")


class Supervisor:
    """Starts processes in their own process group and always stops them (``with Supervisor() as s``)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[Proc] = []
        self._old: dict[int, object] = {}

    def __enter__(self) -> Supervisor:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            self._old[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
        for signum, old in self._old.items():
            signal.signal(signum, old)  # type: ignore[arg-type]

    @staticmethod
    def _on_signal(signum: int, _frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        log = self.logdir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,  # its own group: stop() reaches its children too
            )
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, grace: float = 10.0) -> int | None:
        """SIGTERM the group of ``proc`` (which this supervisor created), then SIGKILL after ``grace``."""
        if proc in self.procs:
            self.procs.remove(proc)
        pgid = proc.pid  # start_new_session: the group id is the leader's pid
        if proc.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                proc.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                proc.process.wait(timeout=5)
        # children that outlived their leader (Apache, nginx workers) are still in the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        return proc.process.returncode

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            with contextlib.suppress(Exception):
                self.stop(proc)


def wait_port(port: int, proc: Proc | None = None, timeout: float = 30.0) -> None:
    """Wait until something accepts on 127.0.0.1:``port`` (and ``proc`` is still alive)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    detail = proc.output() if proc is not None else ""
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s\n{detail}")


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)

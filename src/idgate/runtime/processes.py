"""``idgate serve``'s processes: one, or a supervisor that forks N workers sharing the port.

::

    serve(settings, workers=N)      logging, metrics; binds nothing itself
      ├── workers == 1: run_worker in this process
      └── workers > 1:  fork N children, each binding its own socket into the port's SO_REUSEPORT group
                        (and the metrics port's); SIGTERM/SIGINT are forwarded to them, and the
                        supervisor exits with the first failing worker's status

An address that cannot be bound (another program has the port) is a
:class:`~idgate.runtime.listeners.ListenError`, raised to the caller (``idgate serve`` prints it in one
line); with several workers the supervisor tries the public address first, so that it is said once.

Metrics (:mod:`.metrics`) come from the log records and the edge's counters; with several workers they
are kept in prometheus-client's multiprocess mode, so that any worker answers a scrape for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import TYPE_CHECKING

from idgate.runtime.listeners import ListenError, bind
from idgate.runtime.worker import run_worker
from idgate.settings import Settings

if TYPE_CHECKING:
    from idgate.runtime.metrics import Metrics

__all__ = ["announce", "serve"]

log = logging.getLogger("idgate")


def serve(
    settings: Settings,
    *,
    workers: int = 1,
    log_format: str = "text",
    log_level: str = "INFO",
    metrics_dir: str | None = None,
) -> None:
    """Run ``settings`` in the foreground: one process, or ``workers`` forked processes on one port.

    ``log_format`` and ``log_level`` shape the logs on stderr (:mod:`.logs`); ``metrics_dir`` is a
    ``PROMETHEUS_MULTIPROC_DIR`` the operator chose (else ``--workers N`` makes one, removed at exit).
    """
    from idgate.runtime import metrics
    from idgate.runtime.logs import configure_logging

    made = metrics.prepare_multiprocess(metrics_dir) if workers > 1 else None
    multiprocess = metrics_dir is not None or made is not None
    try:
        configure_logging(log_format, log_level)
        handler = metrics.install_metrics(settings, multiprocess=multiprocess)
        shared = handler.metrics if multiprocess else None
        announce(settings)
        if workers <= 1:
            _run(settings, reuse_port=False, shared_metrics=shared, log_format=log_format)
            return
        _fork_workers(settings, workers, shared, log_format)
    finally:
        metrics.cleanup_multiprocess(made)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _run(settings: Settings, *, reuse_port: bool, shared_metrics: Metrics | None, log_format: str) -> None:
    """One worker on a loop of its own; the edge writes its access lines on stderr in ``log_format``."""
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(
            run_worker(settings, reuse_port=reuse_port, shared_metrics=shared_metrics, log_format=log_format)
        )


def _fork_workers(settings: Settings, workers: int, shared_metrics: Metrics | None, log_format: str) -> None:
    bind(settings.listen, reuse_port=True).close()  # a taken port: one ListenError here, not one per worker
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker binds its own socket into the port's SO_REUSEPORT group
            code = 0
            try:
                _run(settings, reuse_port=True, shared_metrics=shared_metrics, log_format=log_format)
            except ListenError as exc:
                log.error("%s", exc)  # one line: the address and its setting say it all
                code = 1
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
    _supervise(children)


def _supervise(children: list[int]) -> None:
    """Forward SIGTERM/SIGINT to the workers and wait for all of them."""

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        _, code = os.waitpid(pid, 0)
        status = status or os.waitstatus_to_exitcode(code)
    if status:
        sys.exit(status)


def announce(settings: Settings) -> None:
    """Tell the operator what runs where (no secrets)."""
    if settings.provider is not None:
        log.info("provider: issuer %s", settings.provider.issuer)
    for proxy in settings.proxies:
        log.info("proxy %s: host %s -> %s", proxy.name, proxy.host, proxy.upstream)

"""Pools of one thread per core, for the CPU-bound calls that release the GIL and must not run on the
event loop: bcrypt checks (:mod:`idgate.connectors.local`) and ID-token signatures
(:mod:`idgate.provider.tokens`).

One pool per purpose, so a burst of logins (tens of milliseconds of bcrypt each) never queues ahead of
the token endpoint's signatures (a fraction of a millisecond each). One thread per core, because each call
keeps a core busy: more threads would only queue in the kernel instead of here. A forked worker starts its
own threads on first use (threads do not survive ``fork``).

The hand-off is a queue and ``call_soon_threadsafe`` straight to an asyncio future: ~4 µs of CPU per call
with 32 in flight, against ~23 µs for ``run_in_executor`` (whose ``concurrent.futures`` future is chained
to an asyncio one), measured on the machines ``bench/`` runs on: 1 % of an RS256 signature's ~0.38 ms
instead of 6 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[object, ...]]


class CorePool:
    """``await pool.run(fn, *args)``: ``fn(*args)`` on one of this process's threads named ``name_N``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job] | None = None
        self._pid = 0  # the process whose threads serve _jobs

    def _queue(self) -> queue.SimpleQueue[_Job]:
        pid = os.getpid()
        if self._jobs is None or self._pid != pid:
            jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
            for n in range(os.cpu_count() or 1):
                threading.Thread(target=_serve, args=(jobs,), name=f"{self.name}_{n}", daemon=True).start()
            self._jobs, self._pid = jobs, pid
        return self._jobs

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._queue().put((loop, done, fn, args))
        return await done


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
    """A pool thread: run jobs for ever (daemon: pure computation, nothing to finish at exit)."""
    while True:
        loop, done, fn, args = jobs.get()
        try:
            result, error = fn(*args), None
        except BaseException as err:  # handed to the caller, raised there
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, done, result, error)
        del loop, done, fn, args, result, error  # no reference outlives the job


def _settle(done: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if done.cancelled():  # the caller went away; the work is done and dropped
        return
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)

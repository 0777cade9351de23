"""Single flight: concurrent callers asking for the same key share one run of the work.

A dashboard that opens fifty panels at once sends fifty requests with one cookie; when that cookie's
session must be read from Redis (or refreshed), one read (one refresh) serves them all. The run is a task
of its own: a caller whose client went away is cancelled alone, the run and the other callers carry on,
and every caller gets the run's result or its exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs ``work`` once per key at a time; see the module docstring."""

    def __init__(self) -> None:
        self._runs: dict[Hashable, asyncio.Future[T]] = {}

    def running(self, key: Hashable) -> bool:
        return key in self._runs

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        task = self._runs.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._runs[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Future[T]) -> None:
        if self._runs.get(key) is task:
            del self._runs[key]
        if not task.cancelled():
            task.exception()  # retrieved here: callers that are gone would leave it unretrieved

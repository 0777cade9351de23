"""``@timed(operation)``: each call of a storage method observed into
``idgate_storage_duration_seconds{operation}`` (:mod:`idgate.durations`: a coroutine wrapper and a
bucket increment, under a microsecond of an operation that costs tens of microseconds on SQLite and a
network round trip on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from time import perf_counter
from typing import Any, ParamSpec, TypeVar

from idgate.durations import STORAGE

P = ParamSpec("P")
T = TypeVar("T")


def timed(operation: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Time each call of an async method into ``idgate_storage_duration_seconds{operation}``."""
    timer = STORAGE.timer(operation)

    def wrap(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @wraps(fn)
        async def timed_call(*args: P.args, **kwargs: P.kwargs) -> T:
            started = perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                timer.observe(perf_counter() - started)

        return timed_call

    return wrap

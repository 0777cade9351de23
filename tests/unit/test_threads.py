"""The per-purpose pools of one thread per core (:mod:`idgate.threads`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time

from idgate.threads import CorePool


async def test_work_runs_on_the_pools_threads_at_most_one_per_core() -> None:
    pool = CorePool("idgate-test")
    running, most = 0, 0
    lock = threading.Lock()

    def work(n: int) -> tuple[int, str]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * 2, threading.current_thread().name

    jobs = (pool.run(work, n) for n in range(3 * (os.cpu_count() or 1)))
    done = await asyncio.wait_for(asyncio.gather(*jobs), 10)  # a lost result fails here, not hangs
    assert [value for value, _ in done] == [n * 2 for n in range(len(done))]
    assert all(name.startswith("idgate-test") for _, name in done)
    assert 1 <= most <= (os.cpu_count() or 1)


async def test_an_error_reaches_the_caller() -> None:
    def fails() -> None:
        raise ValueError("bad key")

    try:
        await asyncio.wait_for(CorePool("idgate-test").run(fails), 5)  # a lost error times out
    except ValueError as err:
        assert str(err) == "bad key"
    else:
        raise AssertionError("the error was lost")


async def test_a_caller_that_goes_away_leaves_the_pool_working() -> None:
    """A cancelled caller (its client hung up): the job finishes and is dropped; later jobs still run."""
    pool = CorePool("idgate-test")
    started, release = threading.Event(), threading.Event()
    errors: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))

    def held() -> str:
        started.set()
        release.wait(5)
        return "late"

    waiting = asyncio.ensure_future(pool.run(held))
    await asyncio.to_thread(started.wait, 5)
    waiting.cancel()
    release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()
    assert await asyncio.wait_for(pool.run(str.upper, "next"), 5) == "NEXT"
    assert errors == []  # the late result was not set on the cancelled future


def test_a_forked_worker_makes_its_own_pool() -> None:
    """A pool used before a fork has no threads in the child (``idgate serve --workers N`` forks): the
    child must make its own instead of waiting forever on the parent's."""
    pool = CorePool("idgate-test")
    assert asyncio.run(pool.run(os.getpid)) == os.getpid()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            ok = asyncio.run(asyncio.wait_for(pool.run(os.getpid), 5)) == os.getpid()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0

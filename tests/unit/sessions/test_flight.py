"""Single flight: one run per key at a time, shared by every caller, whatever happens to one of them."""

from __future__ import annotations

import asyncio

import pytest

from idgate.sessions.flight import SingleFlight


async def test_concurrent_callers_share_one_run_and_a_later_call_runs_again() -> None:
    flight: SingleFlight[int] = SingleFlight()
    runs = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal runs
        runs += 1
        mine = runs
        await release.wait()
        return mine

    callers = [asyncio.create_task(flight.run("k", work)) for _ in range(10)]
    other = asyncio.create_task(flight.run("other", work))
    await asyncio.sleep(0.01)
    assert flight.running("k") and runs == 2  # one run for "k", one for "other"
    release.set()
    assert {await c for c in callers} == {1}
    assert await other == 2
    assert not flight.running("k")
    assert await flight.run("k", work) == 3


async def test_a_cancelled_caller_cancels_neither_the_run_nor_the_others() -> None:
    flight: SingleFlight[str] = SingleFlight()
    release = asyncio.Event()

    async def work() -> str:
        await release.wait()
        return "session"

    gone = asyncio.create_task(flight.run("k", work))  # the first caller: its client goes away
    waiting = asyncio.create_task(flight.run("k", work))
    await asyncio.sleep(0.01)
    gone.cancel()
    await asyncio.sleep(0.01)
    assert flight.running("k")
    release.set()
    assert await waiting == "session"
    assert gone.cancelled()


async def test_every_caller_gets_the_runs_exception() -> None:
    flight: SingleFlight[str] = SingleFlight()

    async def work() -> str:
        await asyncio.sleep(0)
        raise ConnectionError("store down")

    results = await asyncio.gather(*(flight.run("k", work) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert not flight.running("k")
    with pytest.raises(ConnectionError):
        await flight.run("k", work)

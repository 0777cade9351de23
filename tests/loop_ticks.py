"""Whether the event loop kept serving while some work ran: the ticks of a short timer meanwhile.

async with LoopTicks(0.005) as loop:
    await work()
assert loop.ticks >= 10   # work that took 100 ms left the loop free
"""

from __future__ import annotations

import asyncio
import contextlib


class LoopTicks:
    def __init__(self, period: float) -> None:
        self.period = period
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(self.period)

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

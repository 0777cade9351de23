"""Browser-side steps shared by the interop tests, and a time bound for each test."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import EMAIL, PASSWORD

P = ParamSpec("P")
T = TypeVar("T")

TEST_TIMEOUT = 90.0


def bounded(
    seconds: float = TEST_TIMEOUT,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Fail the test (cancelling its browser and Node steps) when it runs longer than ``seconds``."""

    def wrap(test: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(test)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            async with asyncio.timeout(seconds):
                return await test(*args, **kwargs)

        return run

    return wrap


def chain(hops: list[Hop]) -> list[tuple[str, int]]:
    return [(h.url, h.status) for h in hops]


def hop_to(hops: list[Hop], prefix: str) -> Hop:
    """The hop whose URL starts with ``prefix`` (the browser arriving at a redirect URI)."""
    for hop in hops:
        if hop.url.startswith(prefix):
            return hop
    last = hops[-1]
    raise AssertionError(
        f"the browser never reached {prefix}: {chain(hops)}; last page ({last.status}):\n{last.body}"
    )


async def idgate_password_login(b: Browser, page: Hop, **extra: Any) -> list[Hop]:
    """Fill idgate's login form (the static user of the KKP values) on ``page`` and send it."""
    assert page.status == 200 and 'name="password"' in page.body, (page.url, page.status, page.body[:500])
    return await b.submit(page, {"login": EMAIL, "password": PASSWORD, **extra})

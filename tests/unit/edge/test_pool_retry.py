"""The pool against an upstream that drops kept-alive connections at the worst moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.unit.edge.conftest import Client, Env, alice, raw_upstream, seal

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"


class OneShotUpstream:
    """Answers the first request of each connection, then closes on the next without answering."""

    def __init__(self) -> None:
        self.connections = 0
        self.answered = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = True
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                if not first:
                    break  # the keep-alive race: the request arrives as the server closes
                first = False
                self.answered += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def oneshot(env: Env) -> AsyncIterator[OneShotUpstream]:
    up = OneShotUpstream()
    async with raw_upstream(env, up.handle):
        yield up


async def test_idempotent_request_retried_on_fresh_connection(
    env: Env, client: Client, oneshot: OneShotUpstream
) -> None:
    for _ in range(3):
        r = await client.get("/", headers=AUTH)
        assert (r.status, r.body) == (200, b"ok")
    assert oneshot.answered == 3
    assert oneshot.connections == 3  # requests 2 and 3 each hit a dropped one, then a fresh one


async def test_request_with_body_is_not_retried(env: Env, client: Client, oneshot: OneShotUpstream) -> None:
    assert (await client.get("/", headers=AUTH)).status == 200
    r = await client.request(
        b"POST / HTTP/1.1\r\nHost: app.test\r\n" + AUTH.encode() + b"Content-Length: 3\r\n\r\nabc"
    )
    assert r.status == 502

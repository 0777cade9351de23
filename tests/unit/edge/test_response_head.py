"""The upstream's response head, relayed as the bytes that came: what passes, what is cut, what is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.edge.conftest import Client, Env, alice, raw_upstream, seal

from idgate.edge.http import MAX_RESPONSE_HEAD, relay_head

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"
HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}


def relayed(head: bytes) -> bytes:
    return b"".join(relay_head(head).parts)


def test_end_to_end_headers_pass_in_order_and_hop_by_hop_ones_are_cut() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nConnection: keep-alive\r\nContent-Type: text/plain\r\n"
        b"Keep-Alive: timeout=5\r\nContent-Length: 12\r\nPROXY-CONNECTION: x\r\nTrailer: X-Sum\r\n"
        b"Upgrade: h2c\r\nTE: trailers\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
    )
    out = relay_head(head)
    assert b"".join(out.parts) == (
        b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
    )
    assert out.content_length == b"12" and out.transfer_encoding is None


def test_status_line_is_http11_with_the_upstreams_reason() -> None:
    assert relayed(b"HTTP/1.0 404 Nope\r\nX-A: 1\r\n") == b"HTTP/1.1 404 Nope\r\nX-A: 1\r\n"
    assert relayed(b"HTTP/1.1 200\r\n") == b"HTTP/1.1 200\r\n"


def test_headers_named_in_connection_are_cut_whatever_their_case() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nX-Secret: 1\r\nConnection: close, x-secret\r\nx-secret-not: 2\r\nX-SECRET: 3\r\n"
    )
    assert relayed(head) == b"HTTP/1.1 200 OK\r\nx-secret-not: 2\r\n"


def test_transfer_encodings_are_read_together_and_header_names_must_match_whole() -> None:
    out = relay_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTE-Extra: 1\r\nTransfer-Encoding:  Chunked \r\n"
    )
    assert out.transfer_encoding == b"gzip, chunked"
    assert b"".join(out.parts) == b"HTTP/1.1 200 OK\r\nTE-Extra: 1\r\n"


_NAMES = st.sampled_from(
    [b"Connection", b"connection", b"Content-Length", b"X-A", b"x-b", b"Keep-Alive", b"Upgrade", b"TE",
     b"Te-X", b"Date", b"Set-Cookie", b"Trailer", b"Transfer-Encoding", b"Proxy-Connection", b"Server"]
)  # fmt: skip
_VALUES = st.sampled_from([b"1", b"close", b"keep-alive", b"x-a", b"close, X-B", b"a b", b"", b"chunked"])


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=12))
def test_relay_keeps_exactly_what_a_header_by_header_filter_keeps(headers: list[tuple[bytes, bytes]]) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    named = {t.strip().lower() for n, v in headers if n.lower() == b"connection" for t in v.split(b",")} - {
        b"close",
        b"keep-alive",
        b"",
    }
    kept = [
        (n, v) for n, v in headers if n.lower() not in HOP | {b"content-length"} and n.lower() not in named
    ]
    assert relayed(head) == b"HTTP/1.1 200 OK\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in kept)


# -- through the edge, from an upstream that writes exactly these bytes --------------------------------


class Scripted:
    """An upstream that reads one request head and answers with ``writes``, one write at a time."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.close_after = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                for data in self.writes:
                    writer.write(data)
                    await writer.drain()
                    await asyncio.sleep(0.005)
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # cancelled: the test is over (3.11's start_server logs a cancelled handler as an error)
        writer.close()


@pytest.fixture
async def scripted(env: Env) -> AsyncIterator[Scripted]:
    up = Scripted()
    async with raw_upstream(env, up.handle):
        yield up


def byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


async def test_a_head_that_arrives_a_byte_at_a_time_is_relayed_whole(
    env: Env, client: Client, scripted: Scripted
) -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Served-By: slow\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\n"
    scripted.writes = [*byte_by_byte(head), b"hello"]
    for _ in range(2):  # and again on the kept-alive connection
        r = await client.get("/", headers=AUTH)
        assert (r.status, r.header("X-Served-By"), r.body) == (200, "slow", b"hello")
        assert r.header("Connection") is None


async def test_an_interim_response_and_the_final_one_in_one_read(
    env: Env, client: Client, scripted: Scripted
) -> None:
    scripted.writes = [
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok"
    ]
    r = await client.get("/", headers=AUTH)
    assert (r.status, r.header("X-Final"), r.header("Link"), r.body) == (200, "yes", None, b"ok")


async def test_headers_the_upstream_names_in_connection_do_not_reach_the_client(
    env: Env, client: Client, scripted: Scripted
) -> None:
    scripted.writes = [
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\nX-Internal: secret\r\n"
        b"Keep-Alive: timeout=5\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok"
    ]
    r = await client.get("/", headers=AUTH)
    assert (r.status, r.header("X-Public"), r.body) == (200, "yes", b"ok")
    assert r.header("X-Internal") is None and r.header("Keep-Alive") is None


async def test_an_http10_answer_read_until_close_is_rechunked(
    env: Env, client: Client, scripted: Scripted
) -> None:
    scripted.writes = [b"HTTP/1.0 200 OK\r\nX-Old: 1\r\n\r\n", b"part one, ", b"part two"]
    scripted.close_after = True
    r = await client.get("/", headers=AUTH)
    assert (r.status, r.header("Transfer-Encoding"), r.body) == (200, "chunked", b"part one, part two")
    assert r.header("X-Old") == "1"


async def test_a_head_that_never_ends_is_a_502_not_a_growing_buffer(
    env: Env, client: Client, scripted: Scripted
) -> None:
    line = b"X-Padding: " + b"p" * 1000 + b"\r\n"
    scripted.writes = [b"HTTP/1.1 200 OK\r\n", *[line * 8] * (MAX_RESPONSE_HEAD // len(line * 8) + 2)]
    errors = env.edge.state.stats.upstream_errors
    before = errors.get(("app", "upstream_head_too_large"), 0)
    r = await client.get("/", headers=AUTH)
    assert r.status == 502
    assert errors.get(("app", "upstream_head_too_large"), 0) == before + 1
    r = await client.get("/again", headers=AUTH)  # the client's connection is still served
    assert r.status == 502


async def test_interim_responses_are_consumed_as_they_come(
    env: Env, client: Client, scripted: Scripted
) -> None:
    interim = b"HTTP/1.1 102 Processing\r\n\r\n" * 2000  # 54 KB each write, 108 KB before the final head
    scripted.writes = [interim, interim, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone"]
    r = await client.get("/", headers=AUTH)
    assert (r.status, r.body) == (200, b"done")

"""The lean GET client (:mod:`idgate.sessions.resp`) against real redis-servers of the tests' own:
pipelining, nil, connections lost and restored, a Redis that is stopped or never answers, AUTH, a db
number, TLS, and the pure-Python reply reader beside hiredis. Each server's ``INFO`` says what it saw."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.fakes.tls import make_ca
from tests.integration.sessions.redis_server import RedisServer

from idgate.sessions.base import SessionStoreUnavailable
from idgate.sessions.resp import GetClient, PureReader, Reader, default_reader, lean_address

READERS = {"hiredis": default_reader, "pure": PureReader}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    s = RedisServer(tmp_path)
    s.start()
    yield s
    s.stop()


@pytest.fixture(params=sorted(READERS))
def reader(request: pytest.FixtureRequest) -> Callable[[], Reader]:
    return READERS[request.param]


@contextlib.asynccontextmanager
async def opened(
    url: str,
    reader: Callable[[], Reader] = default_reader,
    *,
    connections: int = 2,
    timeout: float = 1.0,
    connect_timeout: float = 1.0,
) -> AsyncIterator[GetClient]:
    address = lean_address(url)
    assert address is not None
    c = GetClient(
        address, connections=connections, timeout=timeout, connect_timeout=connect_timeout, reader=reader
    )
    try:
        yield c
    finally:
        await c.close()


def test_hiredis_is_what_parses_replies_by_default() -> None:
    assert type(default_reader()).__module__.startswith("hiredis")


async def test_many_concurrent_gets_share_one_connection_and_each_gets_its_own_value(
    server: RedisServer, reader: Callable[[], Reader]
) -> None:
    with server.admin() as admin:
        for i in range(500):
            admin.set(f"k{i}", f"value {i} " * (i % 7))  # sizes differ, some empty
    connections = server.connections()
    async with opened(server.url, reader, connections=1) as c:
        got = await asyncio.gather(*(c.get(f"k{i}".encode()) for i in range(500)))
        again = await asyncio.gather(*(c.get(f"k{i}".encode()) for i in reversed(range(500))))
    assert got == [f"value {i} ".encode() * (i % 7) for i in range(500)]
    assert again == list(reversed(got))
    assert server.connections() == connections + 1
    assert server.calls("GET") == 1000


async def test_a_missing_key_is_none(server: RedisServer, reader: Callable[[], Reader]) -> None:
    async with opened(server.url, reader) as c:
        assert await c.get(b"no-such-key") is None


async def test_an_error_reply_is_unavailable_and_the_next_caller_gets_its_own_reply(
    server: RedisServer, reader: Callable[[], Reader]
) -> None:
    with server.admin() as admin:
        admin.rpush("a-list", "x")
        admin.set("a-string", "s")
    async with opened(server.url, reader, connections=1) as c:
        wrong, right = await asyncio.gather(c.get(b"a-list"), c.get(b"a-string"), return_exceptions=True)
    assert isinstance(wrong, SessionStoreUnavailable) and str(wrong) == "redis: GET refused (WRONGTYPE)"
    assert right == b"s"


async def test_a_cancelled_caller_does_not_shift_the_replies_of_the_others(server: RedisServer) -> None:
    with server.admin() as admin:
        admin.mset({"a": "1", "b": "2"})
        async with opened(server.url, connections=1) as c:
            assert await c.get(b"a") == b"1"  # connected
            admin.client_pause(300)  # the replies wait while the first caller goes away
            first = asyncio.ensure_future(c.get(b"a"))
            second = asyncio.ensure_future(c.get(b"b"))
            await asyncio.sleep(0.05)
            first.cancel()
            assert await second == b"2"
            assert await c.get(b"a") == b"1"


async def test_a_killed_connection_is_replaced_and_the_next_request_works(server: RedisServer) -> None:
    with server.admin() as admin:
        admin.set("k", "v")
        async with opened(server.url, connections=1) as c:
            assert await c.get(b"k") == b"v"
            before = server.connections()
            # Blocking calls: the loop has not seen the loss when the next GET is sent on that connection.
            (lean,) = [c for c in admin.client_list() if c["cmd"] == "get"]
            assert admin.client_kill_filter(_id=lean["id"]) == 1
            assert await c.get(b"k") == b"v"  # sent again on a new connection
            assert server.connections() == before + 1
            await asyncio.sleep(0.05)
            assert await c.get(b"k") == b"v"


async def test_redis_stopped_is_unavailable_then_works_when_it_is_back(server: RedisServer) -> None:
    with server.admin() as admin:
        admin.set("k", "v")
    async with opened(server.url, connections=1) as c:
        assert await c.get(b"k") == b"v"
        server.stop()
        with pytest.raises(SessionStoreUnavailable, match=r"^redis: (connection lost|cannot connect)"):
            await c.get(b"k")
        with pytest.raises(
            SessionStoreUnavailable, match=r"^redis: cannot connect \(ConnectionRefusedError\)$"
        ):
            await c.get(b"k")
        server.start()  # same port, empty
        assert await c.get(b"k") is None
        with server.admin() as admin:
            admin.set("k", "back")
        assert await c.get(b"k") == b"back"


async def test_a_redis_that_never_answers_is_unavailable_after_the_timeout_and_the_connection_is_cut() -> (
    None
):
    seen: list[bytes] = []
    cut = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                seen.append(data)
        cut.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with opened(f"redis://127.0.0.1:{port}/0", timeout=0.2, connections=1) as c:
            gets = asyncio.gather(c.get(b"a"), c.get(b"b"), return_exceptions=True)
            results = await asyncio.wait_for(gets, 10)  # a bound for the test only, not a timing
            assert [str(r) for r in results] == ["redis: no reply within 0.2 s"] * 2
            await asyncio.wait_for(cut.wait(), 5)
        assert b"".join(seen) == b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"
        # With a password the AUTH answer is awaited while connecting: the connect timeout applies.
        async with opened(f"redis://:pw@127.0.0.1:{port}/0", connect_timeout=0.2) as c:
            with pytest.raises(SessionStoreUnavailable, match=r"^redis: cannot connect \(TimeoutError\)$"):
                await c.get(b"a")
    finally:
        server.close()
        await server.wait_closed()


async def test_auth_with_the_password_and_with_an_acl_user(tmp_path: Path) -> None:
    server = RedisServer(
        tmp_path, password="p@ss:w/rd", args=("--user", "reader", "on", ">r-secret", "~*", "+get")
    )
    server.start()
    try:
        with server.admin() as admin:
            admin.set("k", "v")
        async with opened(server.url) as c:
            assert await c.get(b"k") == b"v"
        async with opened(server.url_for(user="reader", password="r-secret")) as c:
            assert await c.get(b"k") == b"v"
        async with opened(server.url_for(password="wrong-secret")) as c:
            with pytest.raises(SessionStoreUnavailable) as refused:
                await c.get(b"k")
        assert str(refused.value) == "redis: AUTH refused (WRONGPASS)"
        async with opened(f"redis://127.0.0.1:{server.port}/0") as c:
            with pytest.raises(SessionStoreUnavailable) as refused:
                await c.get(b"k")
        assert str(refused.value) == "redis: GET refused (NOAUTH)"
    finally:
        server.stop()


async def test_the_db_number_is_selected_once_per_connection(server: RedisServer) -> None:
    with server.admin() as admin:
        admin.set("k", "in db 0")
        admin.execute_command("SELECT", 3)
        admin.set("k", "in db 3")
    async with opened(server.url_for(db=3), connections=1) as c:
        assert [await c.get(b"k") for _ in range(5)] == [b"in db 3"] * 5
    async with opened(server.url_for(db=0)) as c:
        assert await c.get(b"k") == b"in db 0"
    assert server.calls("SELECT") == 2  # the admin's and the lean client's one connection


async def test_rediss_verifies_the_server_with_the_given_ca(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password="tls-secret", tls=make_ca(tmp_path / "tls", "redis test"))
    server.start()
    try:
        with server.admin() as admin:
            admin.set("k", "over tls")
        async with opened(server.url) as c:
            assert await asyncio.gather(c.get(b"k"), c.get(b"k")) == [b"over tls"] * 2
        other = make_ca(tmp_path / "other", "another")
        async with opened(
            f"rediss://:tls-secret@127.0.0.1:{server.port}/0?ssl_ca_certs={other.ca_file}"
        ) as c:
            with pytest.raises(
                SessionStoreUnavailable, match=r"^redis: cannot connect \(SSLCertVerificationError\)$"
            ):
                await c.get(b"k")
    finally:
        server.stop()


def test_the_url_is_read_as_redis_py_reads_it() -> None:
    a = lean_address("redis://user:p%40ss@redis.example:6380/2")
    assert a is not None
    assert (a.host, a.port, a.db, a.username, a.password, a.tls) == (
        "redis.example",
        6380,
        2,
        "user",
        "p@ss",
        None,
    )
    assert "p@ss" not in repr(a)
    b = lean_address("redis://:secret@h?db=5")
    assert b is not None and (b.host, b.port, b.db, b.username, b.password) == ("h", 6379, 5, None, "secret")
    t = lean_address("rediss://h/0?ssl_cert_reqs=none")
    assert t is not None and t.tls is not None and not t.tls.check_hostname
    # Options only redis-py takes: the store reads with redis-py (test_redis_store.py).
    assert lean_address("redis://h/0?socket_keepalive=true") is None
    assert lean_address("rediss://h/0?ssl_certfile=/c.pem") is None


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_the_pure_reader_reads_replies_split_anywhere(chunk: int) -> None:
    stream = b"+OK\r\n$5\r\nhello\r\n$-1\r\n-WRONGPASS invalid password\r\n:42\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
    r = PureReader()
    got: list[object] = []
    for i in range(0, len(stream), chunk):
        r.feed(stream[i : i + chunk])
        while (reply := r.gets()) is not False:
            got.append(reply)
    assert [str(g) if isinstance(g, Exception) else g for g in got] == [
        b"OK",
        b"hello",
        None,
        "WRONGPASS invalid password",
        42,
        b"",
        b"a\r\nb",
    ]
    r.feed(b"*1\r\n")
    with pytest.raises(ValueError, match="unexpected RESP reply type"):
        r.gets()

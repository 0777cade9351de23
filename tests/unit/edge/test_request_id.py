"""Issue 9: every request has an id, kept from the client when safe, forwarded, logged, on every page."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from tests.unit.edge.conftest import Client, Env, Response, alice, read_response, seal

from idgate.edge.limits import EdgeLimits

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"
SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "idgate.access"]


async def test_every_access_record_has_the_request_id_of_its_answer(
    env: Env, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="idgate.access"):
        answers = [
            await client.get("/x", headers=AUTH),  # proxied
            await client.get("/x"),  # login redirect
            await client.get("/oauth/healthy"),  # edge-made 200
            await client.get("/oauth/start"),  # sign-in web app
            await client.get("/", host="nowhere.test"),  # 404
        ]
    records = access_records(caplog)
    assert len(records) == len(answers)
    ids = [getattr(r, "request_id", None) for r in records]
    assert all(isinstance(i, str) and SAFE.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids), "distinct per request"
    for record, rid in zip(records, ids, strict=True):
        assert f"request_id={rid}" in record.getMessage()
    # The edge's own answers carry the id as a header; proxied ones reach the upstream with it.
    assert answers[0].upstream_header("X-Request-Id") == [ids[0]]
    assert answers[3].upstream_header("X-Request-Id") == [ids[3]]
    for i in (1, 2, 4):
        assert answers[i].header("X-Request-Id") == ids[i]
    assert str(ids[4]).encode() in answers[4].body


async def test_generated_ids_are_distinct_and_forwarded(env: Env, client: Client) -> None:
    seen = [(await client.get(f"/p{i}", headers=AUTH)).upstream_header("X-Request-Id") for i in range(20)]
    assert all(len(s) == 1 and SAFE.fullmatch(s[0]) for s in seen)
    assert len({s[0] for s in seen}) == 20


@pytest.mark.parametrize("rid", ["abc-123", "A.b_C-9", "x" * 64])
async def test_safe_client_id_is_kept(env: Env, client: Client, rid: str) -> None:
    r = await client.get("/x", headers=AUTH + f"X-Request-Id: {rid}\r\n")
    assert r.upstream_header("X-Request-Id") == [rid]
    r = await client.get("/", host="nowhere.test", headers=f"X-Request-Id: {rid}\r\n")
    assert r.header("X-Request-Id") == rid
    assert rid.encode() in r.body


@pytest.mark.parametrize(
    "header",
    [
        b"X-Request-Id: " + b"x" * 65 + b"\r\n",  # too long
        b"X-Request-Id: a b\r\n",  # a space
        b"X-Request-Id: a\rX-Evil: 1\r\n",  # a bare CR
        b"X-Request-Id: <script>\r\n",
        b"X-Request-Id: a/b\r\n",
        b"X-Request-Id: \r\n",  # empty
        b"X-Request-Id: one\r\nX-Request-Id: two\r\n",  # more than one
        b"X_Request_Id: sneaky\r\n",  # an underscore twin
    ],
)
async def test_unsafe_client_id_is_replaced(env: Env, client: Client, header: bytes) -> None:
    await client.send(b"GET /x HTTP/1.1\r\nHost: app.test\r\n" + AUTH.encode() + header + b"\r\n")
    r = await asyncio.wait_for(read_response(client.reader), 10)
    if r.status == 400:  # the parser refused the head itself (bare CR): the 400 still has an id
        rid = r.header("X-Request-Id")
        assert rid and SAFE.fullmatch(rid) and rid.encode() in r.body
        return
    assert r.status == 200
    pairs = r.json()["headers"]
    assert isinstance(pairs, list)
    sent = [v for k, v in pairs if k.lower().replace("_", "-") == "x-request-id"]
    assert len(sent) == 1
    assert SAFE.fullmatch(sent[0])
    assert sent[0] not in ("one", "two", "sneaky")


async def test_unsafe_client_id_is_not_echoed_in_an_error_page(env: Env, client: Client) -> None:
    r = await client.get("/", host="nowhere.test", headers="X-Request-Id: <b>hi</b>\r\n")
    rid = r.header("X-Request-Id")
    assert r.status == 404 and rid and SAFE.fullmatch(rid) and rid.encode() in r.body
    assert b"hi</b>" not in r.body


def _has_id(r: Response) -> str:
    rid = r.header("X-Request-Id")
    assert rid and SAFE.fullmatch(rid)
    return rid


async def test_json_401_carries_the_request_id(env: Env, client: Client) -> None:
    r = await client.get("/x", headers="Accept: application/json\r\nX-Request-Id: api-1\r\n")
    assert r.status == 401
    assert r.header("X-Request-Id") == "api-1"
    assert json.loads(r.body) == {"error": "unauthorized", "request_id": "api-1"}


async def test_400_page_carries_the_request_id(env: Env, client: Client) -> None:
    r = await client.request(b"GET / HTTP/1.1\r\nX-Request-Id: bad-1\r\n\r\n")  # no Host
    assert r.status == 400
    assert r.header("X-Request-Id") == "bad-1" and b"bad-1" in r.body


async def test_414_page_carries_a_request_id(env: Env, client: Client) -> None:
    r = await client.get("/" + "a" * 9000)
    assert r.status == 414
    assert _has_id(r).encode() in r.body


async def test_431_page_carries_the_request_id(env: Env, client: Client) -> None:
    r = await client.get("/", headers="X-Request-Id: big-1\r\nX-Big: " + "a" * 20_000 + "\r\n")
    assert r.status == 431
    assert r.header("X-Request-Id") == "big-1" and b"big-1" in r.body


@pytest.fixture
def limits() -> EdgeLimits:
    return EdgeLimits(header_timeout=0.5, max_header_bytes=16 * 1024, max_body_bytes=10)


async def test_413_page_carries_the_request_id(env: Env, client: Client) -> None:
    r = await client.request(
        b"POST / HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: up-1\r\n"
        + AUTH.encode()
        + b"Content-Length: 11\r\n\r\n"
    )
    assert r.status == 413
    assert r.header("X-Request-Id") == "up-1" and b"up-1" in r.body


async def test_408_page_carries_a_request_id(env: Env, client: Client) -> None:
    await client.send(b"GET / HTTP/1.1\r\nHost: app.te")
    r = await asyncio.wait_for(read_response(client.reader), 5)
    assert r.status == 408
    assert _has_id(r).encode() in r.body

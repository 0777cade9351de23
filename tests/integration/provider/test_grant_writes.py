"""A grant's writes, on a SQLite file and on the real PostgreSQL: all of them or none (a failure in the
middle of them leaves nothing half-written), and two replicas (two openings of one database, as two
processes have) racing with one code or one refresh token give tokens once.

The provider is called as both front doors call it (``token_endpoint.answer``), without HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec
import pytest
from tests.unit.provider.support import CB, EMAIL, SECRET, SETTINGS, USER_ID, VERIFIER

from idgate.clock import FrozenClock
from idgate.connectors.local import LocalConnector
from idgate.oauth2 import pkce
from idgate.oauth2.errors import InvalidToken
from idgate.oauth2.grants.authorization_code import issue_code
from idgate.provider.core import Provider, with_static
from idgate.storage import open_storage
from idgate.storage.base import AccessToken, AuthCode, AuthRequest, Claims, RefreshToken, Storage, secret_id

ADMIN_URL = os.environ.get("IDGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BASIC = "Basic " + base64.b64encode(f"prometheus:{SECRET}".encode()).decode()
CLAIMS = Claims(user_id=USER_ID, username="admin", email=EMAIL, email_verified=True)


@dataclass
class Database:
    """One database and what a test does to it besides idgate: make inserts into a table fail."""

    url: str
    kind: str

    async def refuse_inserts(self, table: str) -> None:
        if self.kind == "sqlite":
            self._sqlite(
                f"CREATE TRIGGER refused BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            await self._postgres(f"ALTER TABLE {table} ADD CONSTRAINT refused CHECK (false) NOT VALID")

    async def allow_inserts(self, table: str) -> None:
        if self.kind == "sqlite":
            self._sqlite("DROP TRIGGER refused")
        else:
            await self._postgres(f"ALTER TABLE {table} DROP CONSTRAINT refused")

    def _sqlite(self, sql: str) -> None:
        conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute(sql)
        finally:
            conn.close()

    async def _postgres(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path}/idgate.db", "sqlite")
        return
    name = f"idgate_test_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {ADMIN_URL} and is unreachable: {exc}")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(ADMIN_URL.rsplit("/", 1)[0] + "/" + name, "postgresql")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def replicas(database: Database) -> AsyncIterator[list[Provider]]:
    """Two providers, each on its own opening of the database (as two processes or replicas are)."""
    clock = FrozenClock()
    opened: list[Storage] = []
    providers = []
    for _ in range(2):
        storage = await open_storage(database.url)
        opened.append(storage)
        layered = with_static(storage, SETTINGS)
        providers.append(Provider(SETTINGS, layered, clock, {"local": LocalConnector(layered)}))
    yield providers
    for storage in opened:
        await storage.close()


async def new_code(provider: Provider) -> str:
    """A code for a login with ``offline_access``, stored as ``/auth`` stores it."""
    request = AuthRequest(
        id="r",
        client_id="prometheus",
        redirect_uri=CB,
        scopes=("openid", "email", "offline_access"),
        state="",
        nonce="n",
        code_challenge=pkce.s256(VERIFIER),
        code_challenge_method="S256",
        connector_id="local",
        browser="b",
        expires_at=provider.clock.now() + 60,
    )
    code, record = issue_code(request, CLAIMS, provider.clock.now(), 60)
    await provider.storage.create(record)
    return code


async def exchange(provider: Provider, code: str) -> tuple[int, dict[str, Any]]:
    params = {"grant_type": ["authorization_code"], "code": [code], "redirect_uri": [CB]}
    found = await provider.token_endpoint.answer(BASIC, {**params, "code_verifier": [VERIFIER]})
    return found.status, msgspec.json.decode(found.body)


async def refresh(provider: Provider, token: str) -> tuple[int, dict[str, Any]]:
    params = {"grant_type": ["refresh_token"], "refresh_token": [token]}
    found = await provider.token_endpoint.answer(BASIC, params)
    return found.status, msgspec.json.decode(found.body)


async def access_works(provider: Provider, token: str) -> bool:
    try:
        await provider.tokens.userinfo(token, provider.clock.now())
    except InvalidToken:
        return False
    return True


async def test_a_code_exchange_failing_in_its_last_write_writes_nothing(
    database: Database, replicas: list[Provider]
) -> None:
    """The code is redeemed, its access token and its refresh family stored, in one write: when the last
    of them fails, the code is still unspent, no token exists, and the code can be redeemed again."""
    provider = replicas[0]
    code = await new_code(provider)
    await database.refuse_inserts("refresh_tokens")
    status, answer = await exchange(provider, code)
    assert (status, answer["error"]) == (500, "server_error")
    assert (await provider.storage.get(AuthCode, secret_id(code))).redeemed_at is None
    assert await provider.storage.list(AccessToken) == []
    assert await provider.storage.list(RefreshToken) == []
    await database.allow_inserts("refresh_tokens")
    status, answer = await exchange(provider, code)
    assert status == 200 and answer["refresh_token"]
    assert await access_works(provider, answer["access_token"])


async def test_a_refresh_failing_in_its_last_write_leaves_the_token_unspent(
    database: Database, replicas: list[Provider]
) -> None:
    """The rotation and the new access token are one write: when the access token's insert fails, the
    family is as it was, and the token presented still works (it is no replay)."""
    provider = replicas[0]
    status, first = await exchange(provider, await new_code(provider))
    assert status == 200
    (family,) = await provider.storage.list(RefreshToken)
    await database.refuse_inserts("access_tokens")
    status, answer = await refresh(provider, first["refresh_token"])
    assert (status, answer["error"]) == (500, "server_error")
    assert await provider.storage.list(RefreshToken) == [family]
    assert len(await provider.storage.list(AccessToken)) == 1
    await database.allow_inserts("access_tokens")
    status, answer = await refresh(provider, first["refresh_token"])
    assert status == 200 and answer["refresh_token"] != first["refresh_token"]


async def test_two_replicas_redeeming_one_code_at_once_give_tokens_once_and_revoke_them(
    replicas: list[Provider],
) -> None:
    """However the two redemptions interleave, one gets tokens and the other ``invalid_grant``; the
    second redemption is a replay (RFC 6749 §4.1.2), which revokes what the first issued."""
    code = await new_code(replicas[0])
    answers = await asyncio.gather(*(exchange(provider, code) for provider in replicas))
    assert sorted(status for status, _ in answers) == [200, 400]
    (won,) = [answer for status, answer in answers if status == 200]
    (lost,) = [answer for status, answer in answers if status == 400]
    assert lost["error"] == "invalid_grant"
    assert not await access_works(replicas[0], won["access_token"])
    assert (await refresh(replicas[1], won["refresh_token"]))[0] == 400
    assert await replicas[0].storage.list(RefreshToken) == []


async def test_two_replicas_using_one_refresh_token_at_once_give_tokens_once_and_end_the_family(
    replicas: list[Provider],
) -> None:
    status, first = await exchange(replicas[0], await new_code(replicas[0]))
    assert status == 200
    answers = await asyncio.gather(*(refresh(provider, first["refresh_token"]) for provider in replicas))
    assert sorted(status for status, _ in answers) == [200, 400]
    (won,) = [answer for status, answer in answers if status == 200]
    assert (await refresh(replicas[0], won["refresh_token"]))[0] == 400
    assert await replicas[1].storage.list(RefreshToken) == []
    assert not await access_works(replicas[1], won["access_token"])


async def test_many_codes_redeemed_at_once_by_two_replicas_each_give_tokens_once(
    replicas: list[Provider],
) -> None:
    """Twenty logins' codes, each presented to both replicas at once: twenty winners, one per code,
    each code spent with its own tokens (the losers' writes found the code spent or the file busy)."""
    codes = [await new_code(replicas[0]) for _ in range(20)]
    answers = await asyncio.gather(*(exchange(p, code) for code in codes for p in replicas))
    assert sorted(status for status, _ in answers) == [200] * 20 + [400] * 20
    for code in codes:
        assert (await replicas[1].storage.get(AuthCode, secret_id(code))).redeemed_at is not None

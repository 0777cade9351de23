"""Checking a second-factor code against storage (``idgate.provider.second_factor``): a code or a recovery
code is accepted once, and of concurrent submits of one code exactly one wins."""

from __future__ import annotations

import asyncio

import pytest

from idgate.connectors.base import Identity
from idgate.connectors.local import LocalConnector
from idgate.errors import NotFound
from idgate.provider import second_factor, totp
from idgate.storage import Storage
from idgate.storage.base import SecondFactor

SECRET = totp.new_secret(lambda n: b"\x07" * n)
KEY = totp.secret_bytes(SECRET)
NOW = 1_800_000_000.0
CODES = ("abcd-efgh-ijkl", "mnop-qrst-uvwx", "yz23-4567-abcd")


async def enrol(storage: Storage, at: float = NOW - 30) -> SecondFactor:
    record = second_factor.enrollment("jane@example.com", SECRET, CODES, totp.totp(KEY, at), at)
    await storage.create(record)
    return record


async def test_enrollment_needs_a_current_code_and_records_its_step(storage: Storage) -> None:
    with pytest.raises(ValueError, match="not the current one"):
        second_factor.enrollment("jane@example.com", SECRET, CODES, "000000", NOW)
    record = await enrol(storage, NOW)
    assert record.last_step == totp.step_of(NOW)  # the code that confirmed it cannot sign in
    assert record.recovery_hashes == tuple(totp.recovery_hash(c) for c in CODES)
    assert await second_factor.verify(storage, record.id, totp.totp(KEY, NOW), NOW) is None


async def test_a_code_is_accepted_once(storage: Storage) -> None:
    await enrol(storage)
    code = totp.totp(KEY, NOW)
    assert await second_factor.verify(storage, "jane@example.com", code, NOW) == "totp"
    assert (await storage.get(SecondFactor, "jane@example.com")).last_step == totp.step_of(NOW)
    assert await second_factor.verify(storage, "jane@example.com", code, NOW + 10) is None
    assert (
        await second_factor.verify(storage, "jane@example.com", totp.totp(KEY, NOW + 30), NOW + 30) == "totp"
    )


async def test_a_recovery_code_is_accepted_once(storage: Storage) -> None:
    await enrol(storage)
    assert await second_factor.verify(storage, "jane@example.com", "MNOPQRSTUVWX", NOW) == "recovery_code"
    left = (await storage.get(SecondFactor, "jane@example.com")).recovery_hashes
    assert left == (totp.recovery_hash(CODES[0]), totp.recovery_hash(CODES[2]))
    assert await second_factor.verify(storage, "jane@example.com", CODES[1], NOW) is None
    assert await second_factor.verify(storage, "jane@example.com", CODES[0], NOW) == "recovery_code"


async def test_wrong_input_writes_nothing(storage: Storage) -> None:
    before = await enrol(storage)
    for typed in ("", "000000", "zzzz-zzzz-zzzz", "x" * 100):
        assert await second_factor.verify(storage, "jane@example.com", typed, NOW) is None
    assert await storage.get(SecondFactor, "jane@example.com") == before
    with pytest.raises(NotFound):
        await second_factor.verify(storage, "nobody@example.com", totp.totp(KEY, NOW), NOW)


async def test_concurrent_submits_of_one_code_have_exactly_one_winner(storage: Storage) -> None:
    await enrol(storage)
    code = totp.totp(KEY, NOW)
    results = await asyncio.gather(
        *(second_factor.verify(storage, "jane@example.com", code, NOW) for _ in range(8))
    )
    assert results.count("totp") == 1 and results.count(None) == 7


async def test_only_local_users_with_a_record_have_a_second_factor(storage: Storage) -> None:
    jane = Identity(user_id="1", username="jane", email="Jane@Example.com", email_verified=True)
    local = LocalConnector(storage)
    assert await second_factor.enrolled(storage, local, jane) is None
    await enrol(storage)
    assert await second_factor.enrolled(storage, local, jane) == "jane@example.com"

    class Other:
        id = "ldap"
        name = "LDAP"

    assert await second_factor.enrolled(storage, Other(), jane) is None

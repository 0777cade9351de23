"""The revocation list of cookie sessions (issue 18): sign-out in one process, refused in every process
that shares the storage after its next poll; kept until every cookie with that id has expired.

Two :class:`Revocations` on one real SQLite file stand for two processes; the clock is an input."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.conformance.sessions import NOW, alice, proxy

from idgate.clock import FrozenClock
from idgate.errors import StorageError
from idgate.sessions.cookie_store import CookieSessions, legacy_id
from idgate.sessions.revocations import LOOKBACK, MARGIN, Revocations
from idgate.storage import Storage, open_storage

LIFETIME = 168 * 3600.0  # cookie_expire's default


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    found = await open_storage(f"sqlite:///{tmp_path}/idgate.db")
    yield found
    await found.close()


class Switch:
    """The real storage, which a test can make unreachable (every call raises ``StorageError``)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.down = False

    async def revoke_session(self, id: str, revoked_at: float, expires_at: float) -> None:
        if self.down:
            raise StorageError("storage unreachable: connection refused")
        await self.storage.revoke_session(id, revoked_at, expires_at)

    async def revoked_sessions(self, since: float, now: float) -> list[tuple[str, float]]:
        if self.down:
            raise StorageError("storage unreachable: connection refused")
        return await self.storage.revoked_sessions(since, now)


async def test_a_revocation_holds_here_at_once_and_elsewhere_after_a_poll(storage: Storage) -> None:
    here, there = Revocations(storage), Revocations(storage)
    await there.poll(NOW)  # the other process has polled before: it only reads what is new
    await here.revoke("sid-1", NOW + 3600, NOW)
    assert here.revoked("sid-1") and not there.revoked("sid-1")
    await there.poll(NOW + 2)
    assert there.revoked("sid-1")
    assert there.ids["sid-1"] == NOW + 3600 + MARGIN
    await there.poll(NOW + 3600 + MARGIN)  # every cookie with that id has expired: forgotten
    assert not there.revoked("sid-1") and await storage.revoked_sessions(0, NOW + 3600 + MARGIN) == []


async def test_a_process_that_starts_later_loads_every_live_revocation(storage: Storage) -> None:
    await Revocations(storage).revoke("old", NOW + 60, NOW - 10 * LOOKBACK)
    late = Revocations(storage)
    await late.poll(NOW)
    assert late.revoked("old")


async def test_a_revocation_that_commits_after_a_poll_with_an_earlier_time_is_seen(storage: Storage) -> None:
    """Two writers: the one whose clock runs behind (or whose commit came late) is read at the next poll."""
    reader = Revocations(storage)
    await reader.poll(NOW)
    await storage.revoke_session("late", NOW - LOOKBACK / 2, NOW + 3600)
    await reader.poll(NOW + 2)
    assert reader.revoked("late")


async def test_no_storage_means_this_process_only(storage: Storage) -> None:
    alone = Revocations()
    await alone.revoke("sid-1", NOW + 60, NOW)
    await alone.poll(NOW + 1)
    assert alone.revoked("sid-1") and await storage.revoked_sessions(0, NOW) == []
    await alone.revoke("", NOW + 60, NOW)  # a session without an id (a bearer token) is never listed
    assert "" not in alone.ids


async def test_a_write_that_fails_holds_here_and_is_written_when_storage_answers(storage: Storage) -> None:
    switch = Switch(storage)
    here, there = Revocations(switch), Revocations(storage)
    switch.down = True
    await here.revoke("sid-1", NOW + 3600, NOW)  # sign-out does not fail
    assert here.revoked("sid-1")
    with pytest.raises(StorageError):
        await here.poll(NOW + 2)
    switch.down = False
    await here.poll(NOW + 4)
    await there.poll(NOW + 4)
    assert there.revoked("sid-1")


async def test_the_poller_runs_on_and_says_once_that_storage_is_down(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    switch = Switch(storage)
    switch.down = True
    poller = Revocations(switch)
    task = asyncio.create_task(poller.run(lambda: NOW, interval=0.01))
    await asyncio.sleep(0.1)
    switch.down = False
    await storage.revoke_session("sid-1", NOW, NOW + 60)
    await asyncio.sleep(0.1)
    task.cancel()
    assert poller.revoked("sid-1")
    warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1 and "answers again" in caplog.text


# -- the cookie store -------------------------------------------------------------------------------------
async def test_sign_out_revokes_the_cookie_and_its_copies_in_every_process(storage: Storage) -> None:
    clock = FrozenClock(NOW)
    a = CookieSessions(proxy(), clock, Revocations(storage))
    b_list = Revocations(storage)
    b = CookieSessions(proxy(), clock, b_list)
    await b_list.poll(NOW)
    value = await a.put(alice(), NOW)
    copy = str(value)
    assert b.open(copy, NOW) is not None
    await a.drop(value)  # sign-out in process A
    assert a.open(value, NOW) is None and a.open(copy, NOW) is None
    assert b.open(copy, NOW) is not None  # B has not polled yet
    await b_list.poll(NOW + 2)
    assert b.open(copy, NOW + 2) is None
    # kept until a cookie made just before sign-out would have expired, not only this one's expiry
    assert b_list.ids[alice().sid] == NOW + LIFETIME + MARGIN


async def test_a_refreshed_cookie_keeps_the_id_so_sign_out_ends_the_old_copies_too() -> None:
    clock = FrozenClock(NOW)
    store = CookieSessions(proxy(), clock)
    old = await store.put(alice(), NOW)
    new = await store.put(dataclasses.replace(alice(), created_at=NOW + 60, groups=("org",)), NOW + 60, old)
    await store.drop(new)
    assert store.open(old, NOW + 61) is None and store.open(new, NOW + 61) is None


async def test_a_cookie_sealed_before_sessions_had_ids_opens_and_is_revoked_like_any() -> None:
    clock = FrozenClock(NOW)
    store = CookieSessions(proxy(), clock)
    legacy = await store.put(alice(sid=""), NOW)
    session = store.open(legacy, NOW)
    assert session is not None and session.sid == legacy_id(legacy) and session.user == "alice-sub"
    other = await store.put(alice(sid=""), NOW)  # another old cookie of the same person
    await store.drop(legacy)
    assert store.open(legacy, NOW) is None
    assert store.open(other, NOW) is not None  # only the cookie signed out

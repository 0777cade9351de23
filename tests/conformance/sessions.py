"""The session-store conformance suite: every store runs these by subclassing :class:`SessionStoreConformance`
and providing ``make_store(proxy, clock)``. Time is a :class:`FrozenClock` that the tests fast-forward."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from idgate.clock import FrozenClock
from idgate.durations import SESSION_STORE
from idgate.sessions.base import PENDING, Session, SessionStore
from idgate.sessions.refresh import Refresher, RefusedRefresh
from idgate.settings import ProxySettings

NOW = 1_800_000_000.0
OLD_KEY = b"o" * 32
NEW_KEY = b"n" * 32


def proxy(name: str = "app", key: bytes = NEW_KEY, previous: tuple[bytes, ...] = ()) -> ProxySettings:
    return ProxySettings(
        name=name,
        host="app.test",
        upstream="http://127.0.0.1:1",
        issuer_url="http://idp.test",
        client_id="app",
        client_secret="s",
        encryption_key=key,
        previous_encryption_keys=previous,
    )


def alice(now: float = NOW, lifetime: float = 3600.0, **kw: object) -> Session:
    base: dict[str, object] = {
        "user": "alice-sub",
        "email": "alice@example.com",
        "email_verified": True,
        "created_at": now,
        "expires_at": now + lifetime,
        "groups": ("org", "org:team"),
        "refresh_token": "rt-1",
        "sid": "sid-alice",
    }
    base.update(kw)
    return Session(**base)  # type: ignore[arg-type]


MakeStore = Callable[[ProxySettings, FrozenClock], SessionStore]


def store_counts() -> dict[tuple[str, ...], int]:
    """Observations so far per ``(store, operation)`` of ``idgate_session_store_duration_seconds``."""
    return {labels: sum(counts) for labels, (counts, _) in SESSION_STORE.snapshot().items()}


def refresh_records(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, float]]:
    """``(deployment, result, duration_ms)`` of the ``event: refresh`` records captured."""
    return [
        (r.__dict__["deployment"], r.__dict__["result"], r.__dict__["duration_ms"])
        for r in caplog.records
        if getattr(r, "event", None) == "refresh"
    ]


class SessionStoreConformance:
    """What every session store must do. Subclasses override :meth:`make_store`."""

    def make_store(self, proxy: ProxySettings, clock: FrozenClock) -> SessionStore:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> FrozenClock:
        return FrozenClock(NOW)

    @pytest.fixture
    async def stores(self, clock: FrozenClock) -> AsyncIterator[Callable[..., SessionStore]]:
        made: list[SessionStore] = []

        def make(p: ProxySettings | None = None) -> SessionStore:
            store = self.make_store(p or proxy(), clock)
            made.append(store)
            return store

        yield make
        for store in made:
            await store.close()

    async def test_saved_session_loads(self, stores: Callable[..., SessionStore]) -> None:
        store = stores()
        value = await store.put(alice(), NOW)
        assert store.peek(value, NOW) is not None
        assert await store.fetch(value, NOW) == alice()

    async def test_session_expires_with_the_clock(
        self, stores: Callable[..., SessionStore], clock: FrozenClock
    ) -> None:
        store = stores()
        value = await store.put(alice(lifetime=60), NOW)
        clock.advance(59)
        assert await store.fetch(value, clock.now()) is not None
        clock.advance(1)
        assert await store.fetch(value, clock.now()) is None

    async def test_garbage_and_tampered_values_are_no_session(
        self, stores: Callable[..., SessionStore]
    ) -> None:
        store = stores()
        value = await store.put(alice(), NOW)
        for bad in ("", "garbage", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1], value + "x"):
            assert store.peek(bad, NOW) is None
            assert await store.fetch(bad, NOW) is None

    async def test_value_of_another_deployment_does_not_open(
        self, stores: Callable[..., SessionStore]
    ) -> None:
        value = await stores(proxy("one")).put(alice(), NOW)
        other = stores(proxy("two"))
        assert other.peek(value, NOW) is None
        assert await other.fetch(value, NOW) is None

    async def test_keys_rotate_seal_with_newest_open_with_any(
        self, stores: Callable[..., SessionStore]
    ) -> None:
        old_value = await stores(proxy(key=OLD_KEY)).put(alice(), NOW)
        rotated = stores(proxy(key=NEW_KEY, previous=(OLD_KEY,)))
        assert await rotated.fetch(old_value, NOW) == alice()
        new_value = await rotated.put(alice(user="bob-sub"), NOW)
        assert await stores(proxy(key=NEW_KEY)).fetch(new_value, NOW) is not None
        assert await stores(proxy(key=OLD_KEY)).fetch(new_value, NOW) is None
        assert await stores(proxy(key=NEW_KEY)).fetch(old_value, NOW) is None  # old key retired

    async def test_put_into_the_same_value_replaces(self, stores: Callable[..., SessionStore]) -> None:
        store = stores()
        value = await store.put(alice(), NOW)
        again = await store.put(alice(groups=("other",)), NOW + 5, value)
        session = await store.fetch(again, NOW + 5)
        assert session is not None and session.groups == ("other",)

    async def test_lock_is_a_token_and_unlock_accepts_it(self, stores: Callable[..., SessionStore]) -> None:
        store = stores()
        value = await store.put(alice(), NOW)
        token = await store.lock(value, 5)
        assert token
        await store.unlock(value, token)

    # -- refresh ---------------------------------------------------------------------------------
    async def test_refresh_runs_once_for_concurrent_requests(
        self, stores: Callable[..., SessionStore], clock: FrozenClock
    ) -> None:
        store = stores()
        value = await store.put(alice(), NOW)
        calls = 0

        async def renew(session: Session, now: float) -> Session:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return dataclasses.replace(session, created_at=now, groups=("org",), refresh_token="rt-2")

        refresher = Refresher(store, renew, refresh_after=60)
        clock.advance(61)
        session = await store.fetch(value, clock.now())
        assert session is not None and refresher.due_at(session) <= clock.now()
        results = await asyncio.gather(*(refresher.refresh(value, session, clock.now()) for _ in range(20)))
        assert calls == 1
        assert all(r.session is not None and r.session.groups == ("org",) for r in results)
        new_value = results[0].value or value
        reread = await store.fetch(new_value, clock.now())
        assert reread is not None and reread.groups == ("org",) and reread.refresh_token == "rt-2"
        # a late request still carrying the old cookie gets the same result, not a second refresh
        late = await refresher.refresh(value, session, clock.now() + 1)
        assert calls == 1 and late.session == results[0].session

    async def test_a_refresh_outlives_the_request_that_started_it(
        self, stores: Callable[..., SessionStore], clock: FrozenClock
    ) -> None:
        """The first request's client goes away mid-refresh: the others still get the refreshed session."""
        store = stores()
        value = await store.put(alice(), NOW)
        started = asyncio.Event()

        async def renew(session: Session, now: float) -> Session:
            started.set()
            await asyncio.sleep(0.05)
            return dataclasses.replace(session, created_at=now, groups=("org",))

        refresher = Refresher(store, renew, refresh_after=60)
        clock.advance(61)
        first = asyncio.create_task(refresher.refresh(value, alice(), clock.now()))
        await started.wait()
        others = [asyncio.create_task(refresher.refresh(value, alice(), clock.now())) for _ in range(3)]
        await asyncio.sleep(0)
        first.cancel()
        results = await asyncio.gather(*others)
        assert all(r.session is not None and r.session.groups == ("org",) for r in results)
        assert first.cancelled()

    async def test_refused_refresh_ends_the_session(
        self, stores: Callable[..., SessionStore], clock: FrozenClock
    ) -> None:
        store = stores()
        value = await store.put(alice(), NOW)

        async def renew(session: Session, now: float) -> Session:
            raise RefusedRefresh

        clock.advance(61)
        session = await store.fetch(value, clock.now())
        assert session is not None
        result = await Refresher(store, renew, refresh_after=60).refresh(value, session, clock.now())
        assert result.session is None

    async def test_provider_error_keeps_the_session(
        self, stores: Callable[..., SessionStore], clock: FrozenClock
    ) -> None:
        store = stores()
        value = await store.put(alice(), NOW)

        async def renew(session: Session, now: float) -> Session:
            raise ConnectionError("provider down")

        result = await Refresher(store, renew, refresh_after=60).refresh(value, alice(), NOW + 61)
        assert result.session == alice() and result.value is None
        assert await store.fetch(value, NOW + 61) == alice()

    async def test_an_unreachable_provider_keeps_the_session_only_for_the_grace(
        self, stores: Callable[..., SessionStore], caplog: pytest.LogCaptureFixture
    ) -> None:
        """Past ``grace`` after its refresh point, a session whose provider still cannot be reached ends
        (one ``ended`` record): removed groups take effect by then at the latest."""
        store = stores()
        value = await store.put(alice(), NOW)

        async def renew(session: Session, now: float) -> Session:
            raise ConnectionError("provider down")

        refresher = Refresher(store, renew, refresh_after=60, deployment="app", grace=300)
        kept = await refresher.refresh(value, alice(), NOW + 60 + 299)
        assert kept.session == alice()
        # a kept result answers the same cookie for a while, never past the grace
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="idgate.sessions"):
            ended = await refresher.refresh(value, alice(), NOW + 60 + 300)
        assert ended.session is None
        assert [r for _, r, _ in refresh_records(caplog)] == ["ended"]
        assert await store.fetch(value, NOW + 60 + 300) is None  # dropped (a cookie: revoked)

    async def test_loads_and_saves_are_timed_under_the_stores_name(
        self, stores: Callable[..., SessionStore]
    ) -> None:
        store = stores()
        before = store_counts()
        value = await store.put(alice(), NOW)
        assert await store.fetch(value, NOW) is not None
        after = store_counts()
        moved = {
            labels: n - before.get(labels, 0) for labels, n in after.items() if n != before.get(labels, 0)
        }
        [kind] = {kind for kind, _ in moved}
        assert moved == {(kind, "save"): 1, (kind, "load"): 1}

    async def test_each_refresh_writes_one_record_with_its_result_and_time(
        self, stores: Callable[..., SessionStore], caplog: pytest.LogCaptureFixture
    ) -> None:
        """The records ``idgate_refreshes_total{role="proxy"}`` and ``idgate_refresh_duration_seconds``
        count (idgate.runtime.metrics): success, refused (the session ends) and error (it is kept)."""
        store = stores()
        outcomes: list[Exception | None] = [None, RefusedRefresh("revoked"), ConnectionError("provider down")]

        async def renew(session: Session, now: float) -> Session:
            await asyncio.sleep(0.01)
            problem = outcomes.pop(0)
            if problem is not None:
                raise problem
            return dataclasses.replace(session, created_at=now)

        with caplog.at_level(logging.INFO, logger="idgate.sessions"):
            for _ in range(3):
                value = await store.put(alice(), NOW)
                await Refresher(store, renew, 60, "app").refresh(value, alice(), NOW + 61)
        records = refresh_records(caplog)
        assert [(d, r) for d, r, _ in records] == [("app", "success"), ("app", "refused"), ("app", "error")]
        assert all(ms >= 10 for _, _, ms in records)
        assert "provider down" in caplog.records[-1].getMessage()

    def test_refresh_never_due_without_refresh_token_or_setting(
        self, stores: Callable[..., SessionStore]
    ) -> None:
        async def renew(session: Session, now: float) -> Session:
            return session

        store = stores()
        assert Refresher(store, renew, 0).due_at(alice()) == float("inf")
        assert Refresher(store, renew, 60).due_at(alice(refresh_token=None)) == float("inf")
        assert Refresher(store, renew, 60).due_at(alice()) == NOW + 60


__all__ = ["PENDING", "SessionStoreConformance", "alice", "proxy"]

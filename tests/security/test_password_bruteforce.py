"""Password brute force: per-account and per-address limits with lockout, keyed on the canonical user
name and kept in storage (replicas share them), a constant failure delay, ``idgate user unlock``.
LDAP injection through the login form is covered by ``tests/integration/connectors/test_ldap.py``
(``test_filter_metacharacters_in_the_login_are_escaped`` and its neighbours)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.e2e.browser import Browser, forms
from tests.e2e.harness import EMAIL, PASSWORD, Running, Upstream, stop_idgate
from tests.security.conftest import run_idgate
from tests.security.flows import login_page

from idgate.cli import main
from idgate.clock import FrozenClock
from idgate.provider.throttle import (
    Limits,
    Throttle,
    Throttled,
    account_key,
    address_key,
    canonical_username,
    check,
    client_address,
    count_failure,
)
from idgate.storage import open_storage
from idgate.storage.base import LoginFailures

LIMITS = Limits(account_failures=3, address_failures=5, window=60, lockout=120, failure_delay=0)


# -- pure decisions -------------------------------------------------------------------------------


def test_canonical_username_folds_case_width_and_space() -> None:
    same = ["Kubermatic@Example.com", " kubermatic@example.com ", "ＫＵＢＥＲＭＡＴＩＣ@example.com"]
    assert {canonical_username(u) for u in same} == {"kubermatic@example.com"}
    assert len({account_key(u) for u in same}) == 1


def test_address_is_the_rightmost_public_forwarded_entry() -> None:
    assert client_address("1.2.3.4, 10.0.0.5, 127.0.0.1") == "1.2.3.4"
    assert client_address("6.6.6.6, 1.2.3.4") == "1.2.3.4"  # a spoofed left entry does not count
    assert client_address("127.0.0.1") == "127.0.0.1"
    assert client_address("garbage", "9.9.9.9") == "9.9.9.9"
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff")  # one /64
    assert address_key("::ffff:1.2.3.4") == address_key("1.2.3.4")


def test_the_limit_locks_and_the_window_resets() -> None:
    rec = None
    for _ in range(3):
        check(rec, 100.0)
        rec = count_failure(rec, "k", 100.0, 3, LIMITS)
    assert rec is not None and rec.locked_until == 220.0
    with pytest.raises(Throttled):
        check(rec, 150.0)
    check(rec, 221.0)
    after = count_failure(rec, "k", 221.0, 3, LIMITS)
    assert after.failures == 1 and after.locked_until is None


# -- with real storage ----------------------------------------------------------------------------


@pytest.fixture
async def throttle(tmp_path: Path) -> Iterator[Throttle]:  # type: ignore[misc]
    storage = await open_storage(f"sqlite:///{tmp_path}/t.db")
    yield Throttle(storage, FrozenClock(1000.0), LIMITS)
    await storage.close()


async def test_account_locks_after_the_limit_whatever_the_case(throttle: Throttle) -> None:
    for name in ("alice@x", "ALICE@x", " alice@X"):
        await throttle.check(name, "1.1.1.1")
        await throttle.failed(name, "1.1.1.1")
    with pytest.raises(Throttled):
        await throttle.check("Alice@x", "2.2.2.2")  # another address does not help
    await throttle.check("bob@x", "2.2.2.2")  # other accounts are not affected


async def test_parallel_failures_are_all_counted(throttle: Throttle) -> None:
    await asyncio.gather(*(throttle.failed("carol@x", f"3.3.3.{i}") for i in range(10)))
    with pytest.raises(Throttled):
        await throttle.check("carol@x", "3.3.3.99")


async def test_parallel_successes_are_never_refused(throttle: Throttle) -> None:
    """A shared account signed in to by many at once (or by replicas) is not locked by successes."""
    for _ in range(3):
        await asyncio.gather(*(throttle.check("team@x", "4.4.4.4") for _ in range(50)))
        await asyncio.gather(*(throttle.succeeded("team@x") for _ in range(50)))


async def test_address_locks_across_accounts(throttle: Throttle) -> None:
    for i in range(5):
        await throttle.failed(f"user{i}@x", "5.5.5.5")
    with pytest.raises(Throttled):
        await throttle.check("someone-else@x", "5.5.5.5")
    await throttle.check("someone-else@x", "6.6.6.6")


async def test_success_clears_the_account(throttle: Throttle) -> None:
    await throttle.failed("dave@x", "")
    await throttle.failed("dave@x", "")
    await throttle.succeeded("dave@x")
    await throttle.failed("dave@x", "")
    await throttle.failed("dave@x", "")
    await throttle.check("dave@x", "")


async def test_failures_wait_the_constant_delay(tmp_path: Path) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    storage = await open_storage(f"sqlite:///{tmp_path}/d.db")
    t = Throttle(storage, FrozenClock(0), Limits(failure_delay=1.0), sleep=sleep, monotonic=lambda: 10.25)
    await t.fail_slowly(10.0)
    await storage.close()
    assert slept == [0.75]


def test_user_unlock_command_clears_the_lockout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/u.db"

    async def lock() -> None:
        storage = await open_storage(url)
        t = Throttle(storage, FrozenClock(1000.0), LIMITS)
        for _ in range(3):
            await t.failed("Eve@X", "5.5.5.5")
        await storage.close()

    async def left() -> list[LoginFailures]:
        storage = await open_storage(url)
        try:
            return await storage.list(LoginFailures)
        finally:
            await storage.close()

    asyncio.run(lock())
    result = CliRunner().invoke(main, ["user", "unlock", "--storage", url, "eve@x", "--ip", "5.5.5.5"])
    assert result.exit_code == 0, result.output
    assert "unlocked" in result.output
    assert asyncio.run(left()) == []
    again = CliRunner().invoke(main, ["user", "unlock", "--storage", url, "eve@x"])
    assert again.exit_code == 0 and "nothing was locked" in again.output
    assert CliRunner().invoke(main, ["user", "unlock", "--storage", url]).exit_code == 2


# -- the real product -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def locking_idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("bruteforce")
    running = run_idgate(tmp, upstream)
    running.data = tmp / "data"  # type: ignore[attr-defined]
    yield running
    assert stop_idgate(running) == 0, running.output()


async def post_login(
    b: Browser, idgate: Running, password: str, login: str = EMAIL
) -> tuple[int, str, float]:
    page = login_page(await b.get(idgate.url("grafana", "/")))
    form = forms(page.body)[0]
    assert b.http is not None
    started = time.monotonic()
    data = {**form.fields, "login": login, "password": password}
    async with b.http.post(idgate.url("kkp", form.action), data=data, allow_redirects=False) as r:
        return r.status, await r.text(), time.monotonic() - started


async def test_lockout_end_to_end_and_unlock(locking_idgate: Running) -> None:
    idgate = locking_idgate
    async with Browser() as b:
        # unknown and known users fail after the same constant delay
        _, _, unknown = await post_login(b, idgate, "wrong", login="nobody@example.com")
        assert unknown >= 0.95
        for i in range(5):
            status, body, took = await post_login(b, idgate, f"wrong-{i}", login=EMAIL.upper())
            assert status == 200 and "Invalid email or password" in body
            assert took >= 0.95
        # locked: the right password is refused too, without being checked
        status, body, _ = await post_login(b, idgate, PASSWORD)
        assert status == 429 and "Too many failed sign-in attempts" in body
    data = idgate.data  # type: ignore[attr-defined]
    args = ["user", "unlock", "--storage", f"sqlite:///{data}/idgate.db", EMAIL]
    result = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert result.exit_code == 0, result.output
    async with Browser() as b:
        status, _, _ = await post_login(b, idgate, PASSWORD)
        assert status == 303

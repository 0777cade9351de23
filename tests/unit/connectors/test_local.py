from __future__ import annotations

import asyncio
import dataclasses
import itertools
import secrets
import threading
from collections.abc import AsyncIterator

import bcrypt
import pytest
from tests.conformance.password_connectors import PasswordConnectorConformance, Person
from tests.loop_ticks import LoopTicks

from idgate.connectors.base import CallbackConnector, PasswordConnector, RefreshConnector
from idgate.connectors.local import LocalConnector, check_password
from idgate.storage import Storage, open_storage
from idgate.storage.base import Password
from idgate.storage.static import StaticStorage

# kkp-values.md §6: bcrypt("password"), as Dex's docs ship it
KKP_HASH = "$2a$10$zMJhg/3axbm/m0KmoVxJiO1eO5gtNrgKDysy5GafQFrXY93OE9LsK"
USER_ID = "08a8684b-db88-4b73-90a9-3cd1661f5466"


def test_the_kkp_hash_is_bcrypt_of_password() -> None:
    assert check_password("password", KKP_HASH)
    assert not check_password("Password", KKP_HASH)


@pytest.mark.parametrize("prefix", [b"$2a$", b"$2b$", b"$2y$"])
def test_every_bcrypt_prefix_dex_may_hold_verifies(prefix: bytes) -> None:
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4))
    variant = prefix + hashed[4:]
    assert check_password("s3cret", variant)
    assert not check_password("wrong", variant)


def test_a_malformed_hash_never_matches() -> None:
    assert not check_password("password", "not-a-hash")


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    backend = await open_storage("sqlite:///:memory:")
    password = Password(
        id="kubermatic@example.com",
        email="kubermatic@example.com",
        hash=KKP_HASH,
        username="admin",
        user_id=USER_ID,
    )
    yield StaticStorage(backend, passwords=[password])
    await backend.close()


async def test_login_matches_email_case_insensitively(storage: Storage) -> None:
    identity = await LocalConnector(storage).login(("openid",), "Kubermatic@Example.COM", "password")
    assert identity is not None
    assert (identity.user_id, identity.email, identity.username) == (
        USER_ID,
        "kubermatic@example.com",
        "admin",
    )
    assert identity.email_verified


async def test_unknown_users_still_pay_for_a_bcrypt_check_of_the_same_cost(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = LocalConnector(storage)
    checked: list[tuple[bytes, str]] = []
    real = check_password

    def spy(password: str, hashed: str | bytes) -> bool:
        checked.append(
            (hashed if isinstance(hashed, bytes) else hashed.encode(), threading.current_thread().name)
        )
        return real(password, hashed)

    monkeypatch.setattr("idgate.connectors.local.check_password", spy)
    await connector.login((), "nobody@example.com", "password")
    ((hashed, thread),) = checked
    assert hashed.startswith(b"$2b$10$")  # a dummy with the configured cost
    assert thread != threading.main_thread().name  # off the event loop


async def test_local_is_a_password_and_refresh_connector(storage: Storage) -> None:
    connector = LocalConnector(storage)
    assert isinstance(connector, PasswordConnector)
    assert not isinstance(connector, CallbackConnector)
    assert isinstance(connector, RefreshConnector)
    assert connector.id == "local"


async def test_logins_do_not_block_the_event_loop(storage: Storage) -> None:
    connector = LocalConnector(storage)
    async with LoopTicks(0.001) as loop:
        await connector.login((), "kubermatic@example.com", "password")
    assert loop.ticks > 5


async def test_bcrypt_runs_on_one_thread_per_core_never_on_the_loop(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of logins: every check runs on the hashing pool, at most one per core at a time."""
    import os

    from idgate.connectors import local

    running, most, names = 0, 0, set()
    lock = threading.Lock()

    def slow_check(password: str, hashed: bytes) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        names.add(threading.current_thread().name)
        threading.Event().wait(0.05)  # a bcrypt's worth of a core
        with lock:
            running -= 1
        return password == "password"

    monkeypatch.setattr(local, "check_password", slow_check)
    connector = LocalConnector(storage)
    logins = [connector.login((), "kubermatic@example.com", "password") for _ in range(12)]
    found = await asyncio.gather(*logins)
    assert all(f is not None for f in found)
    assert most <= (os.cpu_count() or 1)
    assert names and all(n.startswith("idgate-bcrypt") for n in names)
    assert threading.main_thread().name not in names


class Accounts:
    """The conformance suite's directory for ``local``: Password records in storage (no groups)."""

    _numbers = itertools.count(1)

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def add(self, groups: tuple[str, ...] = ()) -> Person:
        assert not groups, "local users have no groups"
        n = next(self._numbers)
        password = secrets.token_urlsafe(12)
        person = Person(
            login=f"person{n}@example.com",
            password=password,
            user_id=f"user-{n}",
            email=f"person{n}@example.com",
            name=f"Person {n}",
        )
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        await self._storage.create(
            Password(
                id=person.email, email=person.email, hash=hashed, username=person.name, user_id=person.user_id
            )
        )
        return person

    async def rename(self, person: Person, name: str) -> None:
        await self._storage.update(Password, person.email, lambda r: dataclasses.replace(r, username=name))

    async def set_groups(self, person: Person, groups: tuple[str, ...]) -> None:
        raise AssertionError("local users have no groups")

    async def remove(self, person: Person) -> None:
        await self._storage.delete(Password, person.email)


class TestLocalConformance(PasswordConnectorConformance):
    @pytest.fixture
    async def accounts(self) -> AsyncIterator[Storage]:
        backend = await open_storage("sqlite:///:memory:")
        yield backend
        await backend.close()

    @pytest.fixture
    async def connector(self, accounts: Storage) -> AsyncIterator[LocalConnector]:
        yield LocalConnector(accounts)

    @pytest.fixture
    async def directory(self, accounts: Storage) -> AsyncIterator[Accounts]:
        yield Accounts(accounts)

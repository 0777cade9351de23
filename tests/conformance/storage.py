"""The storage conformance suite: every backend runs these by subclassing :class:`StorageConformance`
and providing one async fixture, ``storage``, that yields a fresh, empty, migrated storage."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from idgate.errors import AlreadyExists, NotFound
from idgate.storage.base import (
    AccessToken,
    AuthCode,
    AuthRequest,
    Claims,
    Client,
    DeviceRequest,
    DeviceToken,
    LoginSession,
    Password,
    PasswordPassed,
    Record,
    RefreshToken,
    SecondFactor,
    SigningKey,
    SigningKeys,
    Storage,
    secret_id,
)

CLAIMS = Claims(
    user_id="08a8684b-db88-4b73-90a9-3cd1661f5466",
    username="admin",
    email="kubermatic@example.com",
    email_verified=True,
    preferred_username="admin",
    groups=("org", "org:team"),
)


def auth_request(id: str = "req-1", expires_at: float = 1000.0) -> AuthRequest:
    return AuthRequest(
        id=id,
        client_id="prometheus",
        redirect_uri="https://prometheus.example.com/oauth/callback",
        scopes=("openid", "email", "groups"),
        state="st",
        nonce="nn",
        code_challenge="c" * 43,
        code_challenge_method="S256",
        connector_id="local",
        browser=secret_id("browser"),
        expires_at=expires_at,
    )


def auth_code(code: str = "the-code", expires_at: float = 1000.0) -> AuthCode:
    return AuthCode(
        id=secret_id(code),
        client_id="prometheus",
        redirect_uri="https://prometheus.example.com/oauth/callback",
        scopes=("openid", "email"),
        nonce="nn",
        code_challenge="",
        code_challenge_method="",
        connector_id="local",
        claims=CLAIMS,
        issued_at=900.0,
        expires_at=expires_at,
    )


def access_token(token: str = "tok", expires_at: float = 1000.0) -> AccessToken:
    return AccessToken(
        id=secret_id(token),
        client_id="prometheus",
        scopes=("openid",),
        connector_id="local",
        claims=CLAIMS,
        issued_at=900.0,
        expires_at=expires_at,
    )


def refresh_token(
    id: str = "fam-1",
    owner: str = "prometheus local u1",
    session_id: str = "",
    expires_at: float | None = 1000.0,
) -> RefreshToken:
    return RefreshToken(
        id=id,
        client_id="prometheus",
        owner=owner,
        scopes=("openid", "offline_access"),
        nonce="",
        connector_id="local",
        claims=CLAIMS,
        connector_data="",
        secret_hash=secret_id("s0"),
        created_at=900.0,
        last_used_at=900.0,
        expires_at=expires_at,
        session_id=session_id,
    )


def login_session(id: str = "sess", expires_at: float = 1000.0) -> LoginSession:
    return LoginSession(
        id=id, connector_id="local", claims=CLAIMS, connector_data="", auth_time=900.0, expires_at=expires_at
    )


def device(expires_at: float = 1000.0) -> tuple[DeviceRequest, DeviceToken]:
    token = DeviceToken(
        id=secret_id("dc"), client_id="cli", scopes=("openid",), interval=5, expires_at=expires_at
    )
    request = DeviceRequest(
        id="BCDFGHJK", device_id=token.id, client_id="cli", scopes=("openid",), expires_at=expires_at
    )
    return request, token


def second_factor(id: str = "a@b.c") -> SecondFactor:
    return SecondFactor(
        id=id,
        secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
        enrolled_at=900.0,
        last_step=30,
        recovery_hashes=(secret_id("abcd-efgh-ijkl"), secret_id("mnop-qrst-uvwx")),
    )


def signing_keys() -> SigningKeys:
    key = SigningKey(kid="k1", alg="RS256", private_pem="-----PEM-----", created_at=1.0)
    return SigningKeys(id=SigningKeys.SINGLETON, keys=(key,), next_rotation=100.0)


def every_kind() -> list[Record]:
    """One record of every kind, with nested records, tuples and optionals filled in."""
    return [
        Client(id="c", secret="s", name="C", redirect_uris=("https://a/cb",), public=False),
        Password(id="a@b.c", email="A@b.c", hash="$2a$10$x", username="a", user_id="1"),
        auth_request(),
        auth_code(),
        access_token(),
        signing_keys(),
        refresh_token(),
        login_session(),
        *device(),
        dataclasses.replace(access_token("t2"), grant_id="g", session_id="s"),
        second_factor(),
        dataclasses.replace(
            auth_request("req-2"),
            password_passed=PasswordPassed(
                login="A@b.c", factor_id="a@b.c", claims=CLAIMS, connector_data="", until=950.0
            ),
        ),
    ]


class StorageConformance:
    """Behaviour every :class:`~idgate.storage.base.Storage` backend must have."""

    async def test_create_then_get_returns_an_equal_record_for_every_kind(self, storage: Storage) -> None:
        records = every_kind()
        for record in records:
            await storage.create(record)
        for record in records:
            assert await storage.get(type(record), record.id) == record

    async def test_get_of_a_missing_record_raises_not_found(self, storage: Storage) -> None:
        with pytest.raises(NotFound):
            await storage.get(AuthRequest, "nope")

    async def test_create_with_a_taken_id_raises_already_exists(self, storage: Storage) -> None:
        await storage.create(auth_request())
        with pytest.raises(AlreadyExists):
            await storage.create(auth_request())

    async def test_create_of_several_records_stores_all_of_them(self, storage: Storage) -> None:
        await storage.create(auth_request(id="one"), auth_code("c1"), Client(id="one", secret="s"))
        assert (await storage.get(AuthRequest, "one")).id == "one"
        assert (await storage.get(AuthCode, secret_id("c1"))).client_id == "prometheus"
        assert (await storage.get(Client, "one")).secret == "s"

    async def test_create_of_several_records_is_all_or_none(self, storage: Storage) -> None:
        await storage.create(auth_request(id="taken"))
        with pytest.raises(AlreadyExists):
            await storage.create(auth_code("c2"), auth_request(id="taken"))
        with pytest.raises(NotFound):  # the first record of the refused batch was not left behind
            await storage.get(AuthCode, secret_id("c2"))

    async def test_same_id_in_different_kinds_does_not_collide(self, storage: Storage) -> None:
        await storage.create(auth_request(id="x"))
        await storage.create(Client(id="x", secret="s"))
        assert (await storage.get(Client, "x")).secret == "s"

    async def test_list_returns_records_ordered_by_id(self, storage: Storage) -> None:
        for id in ("b", "a", "c"):
            await storage.create(auth_request(id=id))
        assert [r.id for r in await storage.list(AuthRequest)] == ["a", "b", "c"]
        assert await storage.list(AccessToken) == []

    async def test_delete_removes_and_a_second_delete_raises_not_found(self, storage: Storage) -> None:
        await storage.create(auth_request())
        await storage.delete(AuthRequest, "req-1")
        with pytest.raises(NotFound):
            await storage.get(AuthRequest, "req-1")
        with pytest.raises(NotFound):
            await storage.delete(AuthRequest, "req-1")

    async def test_update_writes_what_the_function_returns(self, storage: Storage) -> None:
        await storage.create(auth_code())
        written = await storage.update(
            AuthCode, secret_id("the-code"), lambda c: dataclasses.replace(c, redeemed_at=950.0)
        )
        assert written.redeemed_at == 950.0
        assert (await storage.get(AuthCode, secret_id("the-code"))).redeemed_at == 950.0

    async def test_update_of_a_missing_record_raises_not_found(self, storage: Storage) -> None:
        with pytest.raises(NotFound):
            await storage.update(AuthCode, "nope", lambda c: c)

    async def test_an_exception_in_the_update_function_writes_nothing(self, storage: Storage) -> None:
        await storage.create(auth_code())

        def refuse(code: AuthCode) -> AuthCode:
            raise RuntimeError("refused")

        with pytest.raises(RuntimeError, match="refused"):
            await storage.update(AuthCode, secret_id("the-code"), refuse)
        assert (await storage.get(AuthCode, secret_id("the-code"))).redeemed_at is None

    async def test_update_with_create_writes_the_update_and_the_new_records_together(
        self, storage: Storage
    ) -> None:
        await storage.create(auth_code())
        redeem = lambda c: dataclasses.replace(c, redeemed_at=950.0)  # noqa: E731
        await storage.update(
            AuthCode, secret_id("the-code"), redeem, create=[auth_request(id="a"), auth_code("b")]
        )
        assert (await storage.get(AuthCode, secret_id("the-code"))).redeemed_at == 950.0
        assert (await storage.get(AuthRequest, "a")).id == "a"
        assert (await storage.get(AuthCode, secret_id("b"))).client_id == "prometheus"

    async def test_update_with_create_is_all_or_none(self, storage: Storage) -> None:
        await storage.create(auth_code(), auth_request(id="taken"))

        def refuse(code: AuthCode) -> AuthCode:
            raise RuntimeError("refused")

        with pytest.raises(RuntimeError, match="refused"):  # the function refuses: nothing is created
            await storage.update(AuthCode, secret_id("the-code"), refuse, create=[auth_request(id="new")])
        with pytest.raises(NotFound):
            await storage.get(AuthRequest, "new")
        redeem = lambda c: dataclasses.replace(c, redeemed_at=950.0)  # noqa: E731
        with pytest.raises(AlreadyExists):  # a taken id: neither the update nor the other records
            await storage.update(
                AuthCode,
                secret_id("the-code"),
                redeem,
                create=[auth_request(id="new"), auth_request(id="taken")],
            )
        assert (await storage.get(AuthCode, secret_id("the-code"))).redeemed_at is None
        with pytest.raises(NotFound):
            await storage.get(AuthRequest, "new")

    async def test_concurrent_updates_with_create_write_only_the_winners_records(
        self, storage: Storage
    ) -> None:
        await storage.create(auth_code())

        def redeem(code: AuthCode) -> AuthCode:
            if code.redeemed_at is not None:
                raise LookupError("already redeemed")
            return dataclasses.replace(code, redeemed_at=950.0)

        async def attempt(n: int) -> int | None:
            try:
                await storage.update(
                    AuthCode, secret_id("the-code"), redeem, create=[auth_request(id=f"r{n}")]
                )
            except LookupError:
                return None
            return n

        winners = [n for n in await asyncio.gather(*(attempt(n) for n in range(10))) if n is not None]
        assert len(winners) == 1
        assert [r.id for r in await storage.list(AuthRequest)] == [f"r{winners[0]}"]

    async def test_an_update_against_the_record_just_read_writes_it_with_the_new_records(
        self, storage: Storage
    ) -> None:
        await storage.create(auth_code())
        seen = await storage.get(AuthCode, secret_id("the-code"))
        redeem = lambda c: dataclasses.replace(c, redeemed_at=950.0)  # noqa: E731
        written = await storage.update(
            AuthCode, secret_id("the-code"), redeem, create=[auth_request(id="a")], seen=seen
        )
        assert written.redeemed_at == 950.0
        assert await storage.get(AuthCode, secret_id("the-code")) == written
        assert (await storage.get(AuthRequest, "a")).id == "a"

    async def test_an_update_against_a_record_changed_since_runs_on_the_stored_one(
        self, storage: Storage
    ) -> None:
        """``seen`` is only a saving: when the stored record moved on, the function sees the stored one,
        and the new records are written once, with that update."""
        await storage.create(signing_keys())
        seen = await storage.get(SigningKeys, SigningKeys.SINGLETON)
        bump = lambda k: dataclasses.replace(k, next_rotation=k.next_rotation + 1)  # noqa: E731
        await storage.update(SigningKeys, SigningKeys.SINGLETON, bump)  # another writer, after the read
        written = await storage.update(
            SigningKeys, SigningKeys.SINGLETON, bump, create=[auth_request(id="once")], seen=seen
        )
        assert written.next_rotation == 102.0
        assert (await storage.get(SigningKeys, SigningKeys.SINGLETON)).next_rotation == 102.0
        assert [r.id for r in await storage.list(AuthRequest)] == ["once"]

    async def test_an_update_refused_on_what_was_seen_asks_the_stored_record(self, storage: Storage) -> None:
        await storage.create(auth_code())
        seen = await storage.get(AuthCode, secret_id("the-code"))
        await storage.update(AuthCode, secret_id("the-code"), lambda c: dataclasses.replace(c, nonce="set"))

        def needs_nonce(code: AuthCode) -> AuthCode:
            if code.nonce != "set":
                raise LookupError("not yet")
            return dataclasses.replace(code, redeemed_at=950.0)

        written = await storage.update(AuthCode, secret_id("the-code"), needs_nonce, seen=seen)
        assert (written.nonce, written.redeemed_at) == ("set", 950.0)

    async def test_an_update_against_a_deleted_record_raises_not_found_and_creates_nothing(
        self, storage: Storage
    ) -> None:
        await storage.create(auth_code())
        seen = await storage.get(AuthCode, secret_id("the-code"))
        await storage.delete(AuthCode, secret_id("the-code"))
        with pytest.raises(NotFound):
            await storage.update(
                AuthCode, secret_id("the-code"), lambda c: c, create=[auth_request(id="n")], seen=seen
            )
        assert await storage.list(AuthRequest) == []

    async def test_an_update_against_the_record_just_read_is_all_or_none(self, storage: Storage) -> None:
        await storage.create(auth_code(), auth_request(id="taken"))
        seen = await storage.get(AuthCode, secret_id("the-code"))
        redeem = lambda c: dataclasses.replace(c, redeemed_at=950.0)  # noqa: E731
        with pytest.raises(AlreadyExists):
            await storage.update(
                AuthCode,
                secret_id("the-code"),
                redeem,
                create=[access_token(), auth_request(id="taken")],
                seen=seen,
            )
        assert (await storage.get(AuthCode, secret_id("the-code"))).redeemed_at is None
        assert await storage.list(AccessToken) == []

    async def test_concurrent_updates_against_one_read_have_exactly_one_winner(
        self, storage: Storage
    ) -> None:
        """Every attempt checked the code as unredeemed (one read shared by all); exactly one redeems it,
        and only its records are written."""
        await storage.create(auth_code())
        seen = await storage.get(AuthCode, secret_id("the-code"))

        def redeem(code: AuthCode) -> AuthCode:
            if code.redeemed_at is not None:
                raise LookupError("already redeemed")
            return dataclasses.replace(code, redeemed_at=950.0)

        async def attempt(n: int) -> int | None:
            try:
                await storage.update(
                    AuthCode, secret_id("the-code"), redeem, create=[auth_request(id=f"r{n}")], seen=seen
                )
            except LookupError:
                return None
            return n

        winners = [n for n in await asyncio.gather(*(attempt(n) for n in range(10))) if n is not None]
        assert len(winners) == 1
        assert [r.id for r in await storage.list(AuthRequest)] == [f"r{winners[0]}"]

    async def test_update_may_not_change_the_id(self, storage: Storage) -> None:
        await storage.create(auth_request())
        with pytest.raises(ValueError):
            await storage.update(AuthRequest, "req-1", lambda r: dataclasses.replace(r, id="x"))

    async def test_concurrent_updates_see_each_other_and_exactly_one_redeems(self, storage: Storage) -> None:
        await storage.create(auth_code())
        winners: list[int] = []

        def redeem(n: int):  # type: ignore[no-untyped-def]
            def fn(code: AuthCode) -> AuthCode:
                if code.redeemed_at is not None:
                    raise LookupError("already redeemed")
                return dataclasses.replace(code, redeemed_at=float(n))

            return fn

        async def attempt(n: int) -> None:
            try:
                await storage.update(AuthCode, secret_id("the-code"), redeem(n))
            except LookupError:
                return
            winners.append(n)

        await asyncio.gather(*(attempt(n) for n in range(10)))
        assert len(winners) == 1
        stored = await storage.get(AuthCode, secret_id("the-code"))
        assert stored.redeemed_at == float(winners[0])

    async def test_concurrent_counting_updates_lose_nothing(self, storage: Storage) -> None:
        await storage.create(signing_keys())

        def bump(keys: SigningKeys) -> SigningKeys:
            return dataclasses.replace(keys, next_rotation=keys.next_rotation + 1)

        await asyncio.gather(*(storage.update(SigningKeys, SigningKeys.SINGLETON, bump) for _ in range(10)))
        assert (await storage.get(SigningKeys, SigningKeys.SINGLETON)).next_rotation == 110.0

    async def test_garbage_collect_removes_only_records_expired_before_now(self, storage: Storage) -> None:
        await storage.create(auth_request(id="old", expires_at=10.0))
        await storage.create(auth_request(id="new", expires_at=100.0))
        await storage.create(auth_code(code="old", expires_at=10.0))
        await storage.create(access_token(token="old", expires_at=10.0))
        await storage.create(Client(id="forever", secret="s"))
        await storage.create(signing_keys())
        result = await storage.garbage_collect(50.0)
        assert result.removed == {"auth_request": 1, "auth_code": 1, "access_token": 1}
        assert result.total == 3 and not result.skipped
        assert [r.id for r in await storage.list(AuthRequest)] == ["new"]
        assert await storage.list(AuthCode) == []
        assert len(await storage.list(Client)) == 1
        assert (await storage.garbage_collect(50.0)).total == 0

    async def test_update_that_extends_expiry_protects_from_garbage_collection(
        self, storage: Storage
    ) -> None:
        await storage.create(auth_request(expires_at=10.0))
        await storage.update(AuthRequest, "req-1", lambda r: dataclasses.replace(r, expires_at=100.0))
        await storage.garbage_collect(50.0)
        assert (await storage.get(AuthRequest, "req-1")).expires_at == 100.0

    async def test_text_survives_unicode_and_long_values(self, storage: Storage) -> None:
        client = Client(id="ü-client", secret="sécret ☃", name="x" * 5000)
        await storage.create(client)
        assert await storage.get(Client, "ü-client") == client

    async def test_garbage_collect_removes_every_expired_kind(self, storage: Storage) -> None:
        await storage.create(refresh_token(expires_at=10.0))
        await storage.create(refresh_token(id="forever", expires_at=None))
        await storage.create(login_session(expires_at=10.0))
        for record in device(expires_at=10.0):
            await storage.create(record)
        result = await storage.garbage_collect(50.0)
        assert result.removed == {
            "refresh_token": 1,
            "login_session": 1,
            "device_request": 1,
            "device_token": 1,
        }
        assert [r.id for r in await storage.list(RefreshToken)] == ["forever"]

    async def test_find_and_delete_where_match_indexed_fields(self, storage: Storage) -> None:
        await storage.create(refresh_token("a", owner="c1 local u1", session_id="s1"))
        await storage.create(refresh_token("b", owner="c1 local u1", session_id="s2"))
        await storage.create(refresh_token("c", owner="c2 local u1", session_id="s1"))
        found = await storage.find(RefreshToken, owner="c1 local u1")
        assert [r.id for r in found] == ["a", "b"]
        assert [r.id for r in await storage.find(RefreshToken, owner="c1 local u1", session_id="s1")] == ["a"]
        assert await storage.find(RefreshToken, owner="nobody") == []
        assert await storage.delete_where(RefreshToken, session_id="s1") == 2
        assert [r.id for r in await storage.list(RefreshToken)] == ["b"]
        assert await storage.delete_where(RefreshToken, session_id="s1") == 0

    async def test_an_update_moves_the_indexed_fields_along(self, storage: Storage) -> None:
        await storage.create(dataclasses.replace(access_token(), grant_id="g1"))
        await storage.update(AccessToken, secret_id("tok"), lambda t: dataclasses.replace(t, grant_id="g2"))
        assert await storage.find(AccessToken, grant_id="g1") == []
        assert len(await storage.find(AccessToken, grant_id="g2")) == 1

    async def test_find_refuses_fields_that_are_not_indexed(self, storage: Storage) -> None:
        with pytest.raises(ValueError, match="not indexed"):
            await storage.find(RefreshToken, client_id="prometheus")
        with pytest.raises(ValueError, match="not indexed"):
            await storage.delete_where(Client)

    async def test_concurrent_rotations_of_one_refresh_token_exactly_one_wins(self, storage: Storage) -> None:
        await storage.create(refresh_token())
        winners: list[int] = []

        def rotate(n: int):  # type: ignore[no-untyped-def]
            def fn(family: RefreshToken) -> RefreshToken:
                if family.secret_hash != secret_id("s0"):
                    raise LookupError("spent")
                return dataclasses.replace(
                    family, secret_hash=secret_id(f"s{n + 1}"), previous_hash=family.secret_hash
                )

            return fn

        async def attempt(n: int) -> None:
            try:
                await storage.update(RefreshToken, "fam-1", rotate(n))
            except LookupError:
                return
            winners.append(n)

        await asyncio.gather(*(attempt(n) for n in range(12)))
        assert len(winners) == 1
        stored = await storage.get(RefreshToken, "fam-1")
        assert stored.secret_hash == secret_id(f"s{winners[0] + 1}")
        assert stored.previous_hash == secret_id("s0")

    async def test_a_second_factor_step_is_taken_once_by_concurrent_updates(self, storage: Storage) -> None:
        """Two submits of one TOTP code: the update that records its step wins once, the others see it."""
        await storage.create(second_factor())
        winners: list[int] = []

        def take(step: int):  # type: ignore[no-untyped-def]
            def fn(factor: SecondFactor) -> SecondFactor:
                if step <= factor.last_step:
                    raise LookupError("replayed")
                return dataclasses.replace(factor, last_step=step)

            return fn

        async def attempt(n: int) -> None:
            try:
                await storage.update(SecondFactor, "a@b.c", take(31))
            except LookupError:
                return
            winners.append(n)

        await asyncio.gather(*(attempt(n) for n in range(10)))
        assert len(winners) == 1
        stored = await storage.get(SecondFactor, "a@b.c")
        assert stored.last_step == 31 and stored.expires_at is None
        assert (await storage.garbage_collect(10_000.0)).removed.get("second_factor") is None

    # -- the revocation list of proxy sessions (issue 18) ------------------------------------------

    async def test_revoked_sessions_are_read_from_since_until_they_expire(self, storage: Storage) -> None:
        await storage.revoke_session("early", revoked_at=100.0, expires_at=5000.0)
        await storage.revoke_session("late", revoked_at=200.0, expires_at=5000.0)
        await storage.revoke_session("short", revoked_at=200.0, expires_at=300.0)
        assert await storage.revoked_sessions(0.0, 250.0) == [
            ("early", 5000.0),
            ("late", 5000.0),
            ("short", 300.0),
        ]
        assert await storage.revoked_sessions(150.0, 250.0) == [("late", 5000.0), ("short", 300.0)]
        assert await storage.revoked_sessions(150.0, 300.0) == [("late", 5000.0)]  # "short" has expired
        assert await storage.revoked_sessions(201.0, 250.0) == []

    async def test_a_second_revocation_of_one_id_keeps_the_later_times(self, storage: Storage) -> None:
        await storage.revoke_session("s", revoked_at=100.0, expires_at=900.0)
        await storage.revoke_session("s", revoked_at=300.0, expires_at=500.0)
        assert await storage.revoked_sessions(250.0, 400.0) == [("s", 900.0)]  # seen again since 250
        await storage.revoke_session("s", revoked_at=200.0, expires_at=2000.0)
        assert await storage.revoked_sessions(250.0, 1000.0) == [("s", 2000.0)]

    async def test_a_revocation_removes_those_that_expired_and_no_record_is_touched(
        self, storage: Storage
    ) -> None:
        await storage.create(auth_request(expires_at=10.0))
        await storage.revoke_session("old", revoked_at=100.0, expires_at=150.0)
        await storage.revoke_session("new", revoked_at=200.0, expires_at=900.0)
        # "old" is gone for every reader, whatever the time it asks with
        assert await storage.revoked_sessions(0.0, 0.0) == [("new", 900.0)]
        assert len(await storage.list(AuthRequest)) == 1
        assert (await storage.garbage_collect(1000.0)).removed == {"auth_request": 1}

    async def test_concurrent_revocations_are_all_kept(self, storage: Storage) -> None:
        await asyncio.gather(
            *(storage.revoke_session(f"s{n:02d}", revoked_at=100.0 + n, expires_at=1000.0) for n in range(20))
        )
        found = await storage.revoked_sessions(0.0, 500.0)
        assert [i for i, _ in found] == [f"s{n:02d}" for n in range(20)]

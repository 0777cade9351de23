"""grant_type=refresh_token: rotation, reuse detection, lifetimes, the per-client bound, the connector
asked again (RFC 6749 §6, RFC 9700 §4.14)."""

from __future__ import annotations

from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import GRAFANA, offline, refresh, settings, userinfo_status
from tests.unit.provider.support import Provider

from idgate.storage.base import AccessToken, Password, RefreshToken, secret_id


async def test_no_refresh_token_without_offline_access(provider: Provider) -> None:
    from tests.integration.provider.helpers import tokens

    body = await tokens(provider, await provider.code())
    assert "refresh_token" not in body


async def test_every_use_rotates_and_the_new_token_works(provider: Provider) -> None:
    first = await offline(provider)
    resp = await refresh(provider, first["refresh_token"])
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    second = await resp.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["id_token"] and second["access_token"] != first["access_token"]
    assert (await refresh(provider, second["refresh_token"])).status == 200


async def test_a_spent_token_presented_again_revokes_the_whole_family(provider: Provider) -> None:
    first = await offline(provider)
    second = await (await refresh(provider, first["refresh_token"])).json()
    replay = await refresh(provider, first["refresh_token"])
    assert replay.status == 400 and (await replay.json())["error"] == "invalid_grant"
    # the family is gone: the live token and the access tokens of the grant too
    assert (await refresh(provider, second["refresh_token"])).status == 400
    assert await userinfo_status(provider, second["access_token"]) == 401
    assert await userinfo_status(provider, first["access_token"]) == 401


async def test_within_the_reuse_interval_the_spent_token_works_once_more(make: Make) -> None:
    provider = await make(settings(refresh_reuse_interval=10.0))
    first = await offline(provider)
    lost = await (await refresh(provider, first["refresh_token"])).json()
    provider.clock.advance(5)
    retry = await refresh(provider, first["refresh_token"])
    assert retry.status == 200
    assert (await refresh(provider, lost["refresh_token"])).status == 400  # the lost answer stops working
    provider.clock.advance(20)
    assert (await refresh(provider, first["refresh_token"])).status == 400  # after the interval: replay


async def test_with_rotation_disabled_the_same_token_keeps_working_until_idle(make: Make) -> None:
    """Dex's ``disableRotation``: the answer carries the token that was presented; lifetimes still apply."""
    provider = await make(settings(refresh_rotation=False, refresh_idle_ttl=100.0))
    first = await offline(provider)
    token = first["refresh_token"]
    for _ in range(3):
        provider.clock.advance(60)  # each use moves the idle limit
        resp = await refresh(provider, token)
        assert resp.status == 200
        body = await resp.json()
        assert body["refresh_token"] == token and body["access_token"] != first["access_token"]
    provider.clock.advance(101)
    assert (await refresh(provider, token)).status == 400


async def test_idle_and_absolute_lifetimes(make: Make) -> None:
    provider = await make(settings(refresh_idle_ttl=100.0, refresh_absolute_ttl=250.0))
    token = (await offline(provider))["refresh_token"]
    for _ in range(2):
        provider.clock.advance(90)  # used within the idle limit: still fine
        token = (await (await refresh(provider, token)).json())["refresh_token"]
    provider.clock.advance(90)  # 270 s after the first issue: past the absolute lifetime
    assert (await refresh(provider, token)).status == 400
    idle = (await offline(provider))["refresh_token"]
    provider.clock.advance(101)
    assert (await refresh(provider, idle)).status == 400


async def test_scope_may_narrow_but_never_widen(provider: Provider) -> None:
    token = (await offline(provider))["refresh_token"]
    narrowed = await refresh(provider, token, scope="openid offline_access")
    assert narrowed.status == 200
    body = await narrowed.json()
    assert body["scope"] == "openid offline_access"
    wider = await refresh(provider, body["refresh_token"], scope="openid groups")
    assert (await wider.json())["error"] == "invalid_scope"


async def test_another_client_cannot_use_the_token(provider: Provider) -> None:
    token = (await offline(provider))["refresh_token"]
    resp = await refresh(provider, token, headers=GRAFANA)
    assert (await resp.json())["error"] == "invalid_grant"
    assert (await refresh(provider, token)).status == 200  # and the family is not harmed


async def test_malformed_and_unknown_tokens_are_invalid_grant(provider: Provider) -> None:
    for token in ("nodot", "unknown.secret", ".x", "x."):
        resp = await refresh(provider, token)
        assert (await resp.json())["error"] == "invalid_grant", token
    missing = await refresh(provider, "")
    assert (await missing.json())["error"] == "invalid_request"


async def test_several_logins_keep_several_families_up_to_the_bound(make: Make) -> None:
    provider = await make(settings(refresh_tokens_per_client=2))
    issued = []
    for _ in range(3):
        issued.append((await offline(provider))["refresh_token"])
        provider.clock.advance(1)
    one, two, three = issued
    assert len(await provider.storage.list(RefreshToken)) == 2
    assert (await refresh(provider, one)).status == 400  # the oldest was evicted
    assert (await refresh(provider, two)).status == 200
    assert (await refresh(provider, three)).status == 200


async def test_a_user_removed_from_the_connector_loses_access_at_refresh(make: Make) -> None:
    import bcrypt

    from idgate.settings import ProviderSettings

    provider = await make(ProviderSettings(issuer=settings().issuer, clients=settings().clients))
    hashed = bcrypt.hashpw(b"password", bcrypt.gensalt(rounds=4)).decode()
    from tests.unit.provider.support import EMAIL, USER_ID

    await provider.storage.create(
        Password(id=EMAIL, email=EMAIL, hash=hashed, username="admin", user_id=USER_ID)
    )
    token = (await offline(provider))["refresh_token"]
    token = (await (await refresh(provider, token)).json())["refresh_token"]  # the user exists: fine
    await provider.storage.delete(Password, EMAIL)
    resp = await refresh(provider, token)
    assert (await resp.json())["error"] == "invalid_grant"
    assert await provider.storage.list(RefreshToken) == []  # the family was revoked


async def test_two_uses_of_one_token_at_once_give_tokens_once_and_end_the_family(provider: Provider) -> None:
    """However the two requests interleave (both checked before either wrote, or one after the other),
    the second use of the token is a replay: one answer has tokens, and the family is revoked."""
    import asyncio

    token = (await offline(provider))["refresh_token"]
    answers = await asyncio.gather(refresh(provider, token), refresh(provider, token))
    assert sorted(r.status for r in answers) == [200, 400]
    won = next(r for r in answers if r.status == 200)
    assert (await refresh(provider, (await won.json())["refresh_token"])).status == 400
    assert await provider.storage.list(RefreshToken) == []


async def test_what_the_connector_says_at_refresh_is_kept_with_the_rotation(make: Make) -> None:
    import dataclasses

    import bcrypt

    from idgate.settings import ProviderSettings

    provider = await make(ProviderSettings(issuer=settings().issuer, clients=settings().clients))
    hashed = bcrypt.hashpw(b"password", bcrypt.gensalt(rounds=4)).decode()
    from tests.unit.provider.support import EMAIL, USER_ID

    await provider.storage.create(
        Password(id=EMAIL, email=EMAIL, hash=hashed, username="admin", user_id=USER_ID)
    )
    first = await offline(provider)
    await provider.storage.update(Password, EMAIL, lambda p: dataclasses.replace(p, username="renamed"))
    answer = await (await refresh(provider, first["refresh_token"])).json()
    access = await provider.storage.get(AccessToken, secret_id(answer["access_token"]))
    assert access.claims.username == "renamed"
    (family,) = await provider.storage.list(RefreshToken)
    assert family.claims.username == "renamed"  # stored in the transaction that rotated the token
    assert family.id == answer["refresh_token"].split(".")[0]

"""A local user with a TOTP second factor signs in in two steps, as a browser plays it over real HTTP
(password form, then the code form), on SQLite and PostgreSQL, with a frozen clock."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import aiohttp
import pytest
from aiohttp import ClientResponse
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import BASIC, code_of, settings, tokens
from tests.unit.provider.support import CB, EMAIL, PASSWORD, Provider, auth_params, hidden_req

from idgate.provider import totp
from idgate.provider.web.routes import PROVIDER
from idgate.settings import LoginLimits
from idgate.storage.base import AuthCode, LoginSession, SecondFactor

SECRET = totp.new_secret(lambda n: bytes(range(100, 100 + n)))
KEY = totp.secret_bytes(SECRET)
RECOVERY = ("abcd-efgh-ijkl", "mnop-qrst-uvwx")
FAST = LoginLimits(account_failures=3, address_failures=100, failure_delay=0.0)


async def enrolled(make: Make, limits: LoginLimits = FAST, **changes: object) -> Provider:
    provider = await make(settings(login_limits=limits, **changes))
    await provider.storage.create(
        SecondFactor(
            id=EMAIL.lower(),
            secret=SECRET,
            enrolled_at=provider.clock.now(),
            recovery_hashes=tuple(totp.recovery_hash(c) for c in RECOVERY),
        )
    )
    return provider


def code_at(provider: Provider, offset: float = 0.0) -> str:
    return totp.totp(KEY, provider.clock.now() + offset)


async def password_step(provider: Provider, **changes: str) -> str:
    """GET /auth, the right password: the code form; the pending request id."""
    req = await provider.start_login(**changes)
    resp = await provider.submit(req)
    html = await resp.text()
    assert resp.status == 200, html
    assert 'action="/dex/auth/local/totp"' in html and 'autocomplete="one-time-code"' in html
    assert 'inputmode="numeric"' in html and "recovery code" in html and "<script" not in html
    assert "idgate_session" not in resp.cookies
    assert hidden_req(html) == req
    return req


async def send(provider: Provider, req: str, code: str) -> ClientResponse:
    return await provider.client.post(
        "/dex/auth/local/totp", data={"req": req, "code": code}, allow_redirects=False
    )


async def test_password_then_code_signs_in_and_the_code_reaches_the_client(make: Make) -> None:
    provider = await enrolled(make)
    req = await password_step(provider)
    assert await provider.storage.list(AuthCode) == []  # the password alone issued nothing
    assert await provider.storage.list(LoginSession) == []
    done = await send(provider, req, code_at(provider))
    assert done.status == 303, await done.text()
    assert done.headers["Location"].startswith(CB + "?")
    assert "idgate_session" in done.cookies
    body = await tokens(provider, code_of(done.headers["Location"]))
    assert body["id_token"]


async def test_a_wrong_code_shows_the_form_again_and_issues_nothing(make: Make) -> None:
    provider = await enrolled(make)
    req = await password_step(provider)
    wrong = await send(provider, req, "000000" if code_at(provider) != "000000" else "111111")
    html = await wrong.text()
    assert wrong.status == 200 and "Location" not in wrong.headers
    assert "That code is not valid" in html and 'aria-invalid="true"' in html
    assert await provider.storage.list(AuthCode) == []
    assert await provider.storage.list(LoginSession) == []
    # no SSO session either: a new /auth asks again
    again = await provider.client.get("/dex/auth", params=auth_params(), allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].startswith("/dex/auth/local/login?")
    assert (await send(provider, req, code_at(provider))).status == 303  # the right code still works


async def test_a_code_is_refused_the_second_time_and_the_next_step_works(make: Make) -> None:
    provider = await enrolled(make)
    code = code_at(provider)
    assert (await send(provider, await password_step(provider), code)).status == 303
    req = await password_step(provider, prompt="login")
    replay = await send(provider, req, code)
    assert replay.status == 200 and "That code is not valid" in await replay.text()
    provider.clock.advance(30)
    assert (await send(provider, req, code_at(provider))).status == 303


async def test_a_recovery_code_signs_in_once(make: Make) -> None:
    provider = await enrolled(make)
    first = await send(provider, await password_step(provider), "ABCD EFGH IJKL")
    assert first.status == 303
    req = await password_step(provider, prompt="login")
    assert (await send(provider, req, RECOVERY[0])).status == 200
    assert (await send(provider, req, RECOVERY[1])).status == 303
    stored = await provider.storage.get(SecondFactor, EMAIL.lower())
    assert stored.recovery_hashes == ()


async def test_the_code_needs_the_password_step_in_the_same_browser_before_its_deadline(make: Make) -> None:
    provider = await enrolled(make)
    # no password step: the pending login has no one to finish
    req = await provider.start_login()
    skipped = await send(provider, req, code_at(provider))
    assert skipped.status == 400 and "expired" in await skipped.text()
    # another browser (no idgate_browser cookie) with the right code
    req = await password_step(provider, prompt="login")
    async with aiohttp.ClientSession() as other:
        url = provider.client.make_url("/dex/auth/local/totp")
        resp = await other.post(url, data={"req": req, "code": code_at(provider)}, allow_redirects=False)
        assert resp.status == 400 and "Location" not in resp.headers
    # after the deadline (5 minutes)
    provider.clock.advance(301)
    late = await send(provider, req, code_at(provider))
    assert late.status == 400 and "Location" not in late.headers
    assert await provider.storage.list(AuthCode) == []


async def test_wrong_codes_are_counted_like_wrong_passwords(make: Make) -> None:
    provider = await enrolled(make)
    req = await password_step(provider)
    assert (await send(provider, req, "000001")).status == 200
    assert (await send(provider, req, "000002")).status == 200
    # the right password again clears nothing for a user with a second factor
    req = await password_step(provider, prompt="login")
    assert (await send(provider, req, "000003")).status == 200  # the 3rd failure locks (account_failures: 3)
    locked = await send(provider, req, code_at(provider))
    assert locked.status == 429 and "Too many failed sign-in attempts" in await locked.text()
    assert await provider.storage.list(AuthCode) == []
    password = await provider.submit(await provider.start_login(prompt="login"))
    assert password.status == 429  # the password form is locked too
    provider.clock.advance(FAST.lockout + 1)
    req = await password_step(provider, prompt="login")
    assert (await send(provider, req, code_at(provider))).status == 303


async def test_a_wrong_code_is_answered_after_the_failure_delay(make: Make) -> None:
    provider = await enrolled(make, dataclasses.replace(FAST, failure_delay=1.0))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    provider.client.server.app[PROVIDER].throttle.sleep = sleep
    req = await password_step(provider)
    assert (await send(provider, req, "000000")).status == 200
    assert len(slept) == 1 and 0.5 < slept[0] <= 1.0
    assert (await send(provider, req, code_at(provider))).status == 303
    assert len(slept) == 1  # a success does not wait


async def test_concurrent_submits_of_one_code_sign_in_once(make: Make) -> None:
    provider = await enrolled(make)
    reqs = [await password_step(provider, prompt="login") for _ in range(4)]
    code = code_at(provider)
    answers = await asyncio.gather(*(send(provider, req, code) for req in reqs))
    assert sorted(a.status for a in answers) == [200, 200, 200, 303]
    assert len(await provider.storage.list(AuthCode)) == 1


async def test_the_password_grant_refuses_a_user_with_a_second_factor(make: Make) -> None:
    provider = await enrolled(make, password_connector="local")
    form = {"grant_type": "password", "username": EMAIL, "password": PASSWORD, "scope": "openid email"}
    resp = await provider.client.post("/dex/token", data=form, headers=BASIC)
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
    await provider.storage.delete(SecondFactor, EMAIL.lower())
    assert (await provider.client.post("/dex/token", data=form, headers=BASIC)).status == 200


async def test_the_log_names_each_step_and_never_the_code_or_the_secret(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    """idgate's own records (the SQL drivers' are held quiet in production, see
    ``tests/security/test_log_secrets.py``; ``tests/e2e/test_totp_login.py`` searches a whole log)."""
    caplog.set_level(logging.DEBUG, logger="idgate")
    provider = await enrolled(make)
    req = await password_step(provider)
    wrong = "000000" if code_at(provider) != "000000" else "111111"
    await send(provider, req, wrong)
    right = code_at(provider)
    await send(provider, req, right)
    results = [getattr(r, "result", None) for r in caplog.records if getattr(r, "event", None) == "login"]
    assert results == ["second_factor_required", "second_factor_failed", "second_factor_passed", "success"]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name.startswith("idgate"))
    for secret in (SECRET, wrong, right, *RECOVERY):
        assert secret not in text

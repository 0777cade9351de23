"""The approval screen (``dex.oauth2.skipApprovalScreen: false``, or ``prompt=consent``), as a browser
plays it over real HTTP, on SQLite and PostgreSQL: grant issues the code, deny sends ``access_denied``
back, and the page's POST is bound to the browser and the pending request like the login form's."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import ClientResponse
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import code_of, settings, tokens
from tests.unit.provider.support import CB, ISSUER, Provider, auth_params, hidden_req, query_of

from idgate.storage.base import AuthCode, AuthRequest, LoginSession


async def asking(make: Make, *, skip: bool = False) -> Provider:
    return await make(settings(skip_approval_screen=skip))


async def to_approval(provider: Provider, **changes: str) -> str:
    """Log in with the password: the 303 to the approval page; its ``req``."""
    resp = await provider.submit(await provider.start_login(**changes))
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    assert location.startswith("/dex/approval?req=")
    assert "idgate_session" in resp.cookies  # the login is done: the SSO session starts here
    assert await provider.storage.list(AuthCode) == []
    return query_of(location)["req"]


async def show(provider: Provider, req: str) -> str:
    page = await provider.client.get("/dex/approval", params={"req": req})
    html = await page.text()
    assert page.status == 200, html
    csp = page.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert page.headers.get("Cache-Control", "").startswith("no-store")
    assert "<script" not in html and hidden_req(html) == req
    return html


async def answer(provider: Provider, req: str, value: str) -> ClientResponse:
    return await provider.client.post(
        "/dex/approval", data={"req": req, "approval": value}, allow_redirects=False
    )


async def test_the_page_names_the_client_and_what_it_asks_and_grant_issues_the_code(make: Make) -> None:
    provider = await asking(make)
    req = await to_approval(provider, scope="openid email groups offline_access")
    html = await show(provider, req)
    assert "Prometheus" in html and "would like to" in html
    for words in ("View your email address", "View your groups", "Have offline access"):
        assert words in html
    assert '<button type="submit" name="approval" value="approve"' in html
    assert 'name="approval" value="deny"' in html and 'action="/dex/approval"' in html
    done = await answer(provider, req, "approve")
    assert done.status == 303
    q = query_of(done.headers["Location"])
    assert done.headers["Location"].startswith(CB + "?")
    assert q["state"] == "xyz" and q["iss"] == ISSUER and q["code"]
    body = await tokens(provider, code_of(done.headers["Location"]))
    assert body["id_token"] and body["refresh_token"]
    assert await provider.storage.list(AuthRequest) == []


async def test_deny_sends_access_denied_back_and_issues_nothing(make: Make) -> None:
    provider = await asking(make)
    req = await to_approval(provider)
    denied = await answer(provider, req, "deny")
    assert denied.status == 303
    location = denied.headers["Location"]
    q = query_of(location)
    assert location.startswith(CB + "?") and "code" not in q
    assert (q["error"], q["state"], q["iss"]) == ("access_denied", "xyz", ISSUER)
    assert await provider.storage.list(AuthCode) == []
    assert (await answer(provider, req, "approve")).status == 400  # the request is gone


async def test_another_browser_or_an_unknown_or_late_request_gets_the_expired_page(make: Make) -> None:
    provider = await asking(make)
    req = await to_approval(provider)
    async with aiohttp.ClientSession() as other:  # no idgate_browser cookie
        url = provider.client.make_url("/dex/approval")
        for resp in (
            await other.get(url, params={"req": req}),
            await other.post(url, data={"req": req, "approval": "approve"}, allow_redirects=False),
        ):
            assert resp.status == 400 and "Location" not in resp.headers
            assert "expired" in await resp.text()
    unknown = await answer(provider, "nothing-like-it", "approve")
    assert unknown.status == 400 and "expired" in await unknown.text()
    assert (await answer(provider, req, "maybe")).status == 400  # neither approve nor deny
    provider.clock.advance(601)
    late = await answer(provider, req, "approve")
    assert late.status == 400 and "expired" in await late.text()
    assert await provider.storage.list(AuthCode) == []


async def test_a_double_submit_of_approve_yields_one_code(make: Make) -> None:
    provider = await asking(make)
    req = await to_approval(provider)
    answers = await asyncio.gather(*(answer(provider, req, "approve") for _ in range(3)))
    assert sorted(a.status for a in answers) == [303, 400, 400]
    assert len(await provider.storage.list(AuthCode)) == 1


async def test_a_second_login_from_the_sso_session_asks_again(make: Make) -> None:
    provider = await asking(make)
    assert (await answer(provider, await to_approval(provider), "approve")).status == 303
    again = await provider.client.get("/dex/auth", params=auth_params(state="two"), allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].startswith("/dex/approval?req=")
    req = query_of(again.headers["Location"])["req"]
    assert "Prometheus" in await show(provider, req)
    done = await answer(provider, req, "approve")
    assert query_of(done.headers["Location"])["state"] == "two"
    assert len(await provider.storage.list(LoginSession)) == 1  # the session answered, no new login


async def test_with_skip_there_is_no_page(make: Make) -> None:
    provider = await asking(make, skip=True)
    assert await provider.code()  # straight back to the client with a code
    again = await provider.client.get("/dex/auth", params=auth_params(), allow_redirects=False)
    assert again.status == 302 and again.headers["Location"].startswith(CB + "?")


async def test_prompt_consent_shows_the_page_even_with_skip(make: Make) -> None:
    provider = await asking(make, skip=True)
    req = await to_approval(provider, prompt="consent")
    await show(provider, req)
    assert (await answer(provider, req, "approve")).status == 303
    # the SSO session answers a later request, but prompt=consent still asks
    again = await provider.client.get(
        "/dex/auth", params=auth_params(prompt="consent"), allow_redirects=False
    )
    assert again.status == 303 and again.headers["Location"].startswith("/dex/approval?req=")


async def test_prompt_none_when_approval_is_needed_answers_consent_required(make: Make) -> None:
    provider = await asking(make)
    assert (await answer(provider, await to_approval(provider), "approve")).status == 303
    silent = await provider.client.get("/dex/auth", params=auth_params(prompt="none"), allow_redirects=False)
    assert silent.status == 302
    q = query_of(silent.headers["Location"])
    assert (q["error"], q["state"], q["iss"]) == ("consent_required", "xyz", ISSUER) and "code" not in q
    assert await provider.storage.list(AuthRequest) == []


async def test_a_logout_before_the_answer_ends_the_approval(make: Make) -> None:
    provider = await asking(make)
    req = await to_approval(provider)
    for session in await provider.storage.list(LoginSession):
        await provider.storage.delete(LoginSession, session.id)
    resp = await answer(provider, req, "approve")
    assert resp.status == 400 and "expired" in await resp.text()
    assert await provider.storage.list(AuthCode) == []

"""The provider's login session (SSO), prompt/max_age, auth_time, and RP-initiated logout."""

from __future__ import annotations

from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import (
    GRAFANA,
    code_of,
    id_claims,
    offline,
    refresh,
    tokens,
    userinfo_status,
    with_clients,
)
from tests.unit.provider.support import CB, ISSUER, Provider, auth_params, query_of

from idgate.settings import ClientSettings

GRAFANA_CB = "https://grafana/cb"


async def auth(provider: Provider, **changes: str):  # type: ignore[no-untyped-def]
    return await provider.client.get("/dex/auth", params=auth_params(**changes), allow_redirects=False)


async def test_a_second_client_logs_in_without_a_password(provider: Provider) -> None:
    await tokens(provider, await provider.code())
    provider.clock.advance(30)
    resp = await auth(provider, client_id="grafana", redirect_uri=GRAFANA_CB)
    assert resp.status == 302
    params = query_of(resp.headers["Location"])
    assert resp.headers["Location"].startswith(GRAFANA_CB + "?") and params["iss"] == ISSUER
    body = await tokens(provider, params["code"], headers=GRAFANA, redirect_uri=GRAFANA_CB)
    claims = await id_claims(provider, body["id_token"])
    assert claims["aud"] == "grafana" and claims["azp"] == "grafana"
    assert claims["auth_time"] == int(provider.clock.now()) - 30  # when the person typed the password


async def test_prompt_none_without_a_session_is_login_required(provider: Provider) -> None:
    resp = await auth(provider, prompt="none")
    assert resp.status == 302
    params = query_of(resp.headers["Location"])
    assert (params["error"], params["state"], params["iss"]) == ("login_required", "xyz", ISSUER)


async def test_prompt_none_with_a_session_answers_at_once(provider: Provider) -> None:
    await provider.code()
    resp = await auth(provider, prompt="none")
    assert resp.status == 302 and "code" in query_of(resp.headers["Location"])


async def test_prompt_login_and_max_age_force_a_fresh_login(provider: Provider) -> None:
    await provider.code()
    assert (await auth(provider, prompt="login")).status == 303  # to the login form
    assert (await auth(provider, max_age="0")).status == 303
    provider.clock.advance(100)
    assert (await auth(provider, max_age="60")).status == 303
    assert (await auth(provider, max_age="3600")).status == 302
    expired = await auth(provider, prompt="none", max_age="60")
    assert query_of(expired.headers["Location"])["error"] == "login_required"


async def test_the_session_cookie_is_httponly_and_scoped_to_the_issuer_path(provider: Provider) -> None:
    req = await provider.start_login()
    resp = await provider.submit(req)
    cookie = resp.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("idgate_session="))
    assert "HttpOnly" in session and "Path=/dex" in session and "SameSite=Lax" in session


async def test_a_client_restricted_to_other_connectors_does_not_get_the_session(make: Make) -> None:
    restricted = ClientSettings(
        id="ldap-only", secret="x" * 32, redirect_uris=("https://l/cb",), allowed_connectors=("ldap",)
    )
    provider = await make(with_clients(restricted))
    await provider.code()
    resp = await auth(provider, client_id="ldap-only", redirect_uri="https://l/cb")
    assert resp.status == 500  # no connector this client may use is configured
    assert "Location" not in resp.headers


LOGOUT_CLIENT = ClientSettings(
    id="app",
    secret="a" * 32,
    redirect_uris=("https://app/cb",),
    post_logout_redirect_uris=("https://app/bye",),
)


async def logged_in(make: Make) -> tuple[Provider, dict[str, str]]:
    provider = await make(with_clients(LOGOUT_CLIENT))
    body = await offline(provider)
    return provider, body


async def test_logout_with_a_hint_ends_the_session_and_its_refresh_tokens(make: Make) -> None:
    provider, body = await logged_in(make)
    resp = await provider.client.get(
        "/dex/logout",
        params={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": "https://app/bye",
            "client_id": "app",
            "state": "s-1",
        },
        allow_redirects=False,
    )
    assert resp.status == 400  # the hint names prometheus, not app
    resp = await provider.client.get(
        "/dex/logout",
        params={"id_token_hint": body["id_token"], "state": "s-1"},
        allow_redirects=False,
    )
    assert resp.status == 200 and "Logged out" in await resp.text()
    assert (await refresh(provider, body["refresh_token"])).status == 400
    assert await userinfo_status(provider, body["access_token"]) == 401
    again = await auth(provider, prompt="none")
    assert query_of(again.headers["Location"])["error"] == "login_required"


async def test_logout_redirects_only_to_a_registered_uri_with_state(make: Make) -> None:
    provider = await make(with_clients(LOGOUT_CLIENT))
    await provider.code()
    app_code = await auth(provider, client_id="app", redirect_uri="https://app/cb")
    body = await tokens(
        provider, code_of(app_code.headers["Location"]), headers=_basic_app(), redirect_uri="https://app/cb"
    )
    bad = await provider.client.get(
        "/dex/logout",
        params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://evil/"},
        allow_redirects=False,
    )
    # an unregistered target is never followed, but the person is still signed out
    assert bad.status == 200 and "Location" not in bad.headers
    assert "Logged out" in await bad.text()
    assert await userinfo_status(provider, body["access_token"]) == 401
    good = await provider.client.get(
        "/dex/logout",
        params={
            "id_token_hint": body["id_token"],
            "post_logout_redirect_uri": "https://app/bye",
            "state": "s",
        },
        allow_redirects=False,
    )
    assert good.status == 302 and good.headers["Location"] == "https://app/bye?state=s"


def _basic_app() -> dict[str, str]:
    from tests.integration.provider.helpers import basic

    return basic("app", "a" * 32)


async def test_logout_without_a_hint_asks_first(provider: Provider) -> None:
    await provider.code()
    ask = await provider.client.get("/dex/logout", allow_redirects=False)
    html = await ask.text()
    assert ask.status == 200 and 'name="confirm"' in html
    forged = await provider.client.post("/dex/logout", data={"confirm": "0" * 32}, allow_redirects=False)
    assert "Log out?" in await forged.text()  # a wrong confirmation logs nobody out
    import re

    confirm = re.search(r'name="confirm" value="([0-9a-f]+)"', html)
    assert confirm
    done = await provider.client.post(
        "/dex/logout", data={"confirm": confirm.group(1)}, allow_redirects=False
    )
    assert "Logged out" in await done.text()
    again = await auth(provider, prompt="none")
    assert query_of(again.headers["Location"])["error"] == "login_required"


async def test_the_code_flow_redirect_carries_iss(provider: Provider) -> None:
    req = await provider.start_login()
    resp = await provider.submit(req)
    assert resp.headers["Location"].startswith(CB) and query_of(resp.headers["Location"])["iss"] == ISSUER


async def test_the_log_out_question_can_be_cancelled_and_nothing_ends(provider: Provider) -> None:
    body = await tokens(provider, await provider.code())
    ask = await provider.client.get("/dex/logout", allow_redirects=False)
    html = await ask.text()
    assert 'name="cancel"' in html and ">Cancel</button>" in html  # no known client: a button
    import re

    confirm = re.search(r'name="confirm" value="([0-9a-f]+)"', html)
    assert confirm
    # the Cancel button sends the form's confirmation too: it must not log out
    cancelled = await provider.client.post(
        "/dex/logout", data={"confirm": confirm.group(1), "cancel": "1"}, allow_redirects=False
    )
    assert cancelled.status == 200 and "Still logged in" in await cancelled.text()
    assert await userinfo_status(provider, body["access_token"]) == 200
    again = await auth(provider, prompt="none")
    assert "code" in query_of(again.headers["Location"])  # the login session is still there


async def test_the_log_out_question_of_a_known_client_cancels_back_to_it(make: Make) -> None:
    provider = await make(with_clients(LOGOUT_CLIENT))
    await provider.code()
    ask = await provider.client.get("/dex/logout", params={"client_id": "app"}, allow_redirects=False)
    html = await ask.text()
    assert ask.status == 200 and "Log out?" in html
    assert '<a class="button secondary dex-btn theme-btn--secondary" href="https://app/">Cancel</a>' in html
    assert 'name="cancel"' not in html

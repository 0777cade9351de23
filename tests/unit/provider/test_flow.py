"""The authorization code flow over real HTTP, as a browser and a client play it."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from tests.loop_ticks import LoopTicks
from tests.unit.provider.support import (
    CB,
    EMAIL,
    ISSUER,
    SECRET,
    USER_ID,
    VERIFIER,
    Provider,
    auth_params,
    hidden_req,
    query_of,
)

from idgate.oidc import id_token
from idgate.oidc.keys import LoadedKeys
from idgate.oidc.subject import encode_subject


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


BASIC = basic("prometheus", SECRET)


def token_form(code: str, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CB,
        "code_verifier": VERIFIER,
    }
    form.update(changes)
    return form


async def test_full_flow_from_auth_to_userinfo(provider: Provider) -> None:
    client = provider.client
    resp = await client.get("/dex/auth", params=auth_params(), allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/dex/auth/local/login?req=")
    assert "idgate_browser" in resp.cookies

    form = await client.get(resp.headers["Location"])
    html = await form.text()
    assert form.status == 200
    assert 'action="/dex/auth/local/login"' in html and "Prometheus" in html
    assert "<script" not in html
    req = hidden_req(html)

    wrong = await provider.submit(req, password="nope")
    assert wrong.status == 200
    assert "Location" not in wrong.headers
    assert "Invalid email or password" in await wrong.text()

    right = await provider.submit(req)
    assert right.status == 303
    location = right.headers["Location"]
    assert location.startswith(CB + "?")
    params = query_of(location)
    assert params["state"] == "xyz" and params["iss"] == ISSUER and params["code"]

    tokens = await client.post("/dex/token", data=token_form(params["code"]), headers=BASIC)
    assert tokens.status == 200, await tokens.text()
    assert tokens.headers["Cache-Control"] == "no-store"
    body = await tokens.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert "refresh_token" not in body

    jwks = KeySet.import_key_set(await (await client.get("/dex/keys")).json())
    token = jwt.decode(body["id_token"], jwks, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        now=int(provider.clock.now()),
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": "prometheus"},
        nonce={"essential": True, "value": "n-1"},
    ).validate(token.claims)
    assert token.claims["sub"] == "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
    assert token.claims["sub"] == encode_subject(USER_ID, "local")
    assert token.claims["email"] == EMAIL and token.claims["email_verified"] is True
    assert token.claims["groups"] == []
    assert token.claims["name"] == "admin"

    info = await client.get("/dex/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status == 200
    claims = await info.json()
    assert claims["sub"] == token.claims["sub"] and claims["email"] == EMAIL


async def test_id_tokens_are_signed_off_the_event_loop(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An RS256 signature keeps a core busy for ~0.3 ms: it runs on the signing threads, and the loop goes
    on serving (here: a slowed signature, and a ticker that must keep ticking meanwhile)."""
    real, threads = id_token.sign, []

    def slow_sign(claims: dict[str, Any], keys: LoadedKeys) -> str:
        threads.append(threading.current_thread().name)
        time.sleep(0.1)
        return real(claims, keys)

    monkeypatch.setattr(id_token, "sign", slow_sign)
    code = await provider.code()
    async with LoopTicks(0.005) as loop:
        tokens = await provider.client.post("/dex/token", data=token_form(code), headers=BASIC)
    assert tokens.status == 200, await tokens.text()
    jwks = KeySet.import_key_set(await (await provider.client.get("/dex/keys")).json())
    assert jwt.decode((await tokens.json())["id_token"], jwks, algorithms=["RS256"]).claims["email"] == EMAIL
    assert threads and all(name.startswith("idgate-sign") for name in threads)
    assert loop.ticks >= 10  # the loop ran while the signature took 100 ms


async def test_code_replay_is_invalid_grant(provider: Provider) -> None:
    code = await provider.code()
    first = await provider.client.post("/dex/token", data=token_form(code), headers=BASIC)
    assert first.status == 200
    again = await provider.client.post("/dex/token", data=token_form(code), headers=BASIC)
    assert again.status == 400
    assert (await again.json())["error"] == "invalid_grant"
    assert again.headers["Cache-Control"] == "no-store"


async def test_expired_code_is_invalid_grant(provider: Provider) -> None:
    code = await provider.code()
    provider.clock.advance(61)
    resp = await provider.client.post("/dex/token", data=token_form(code), headers=BASIC)
    assert (await resp.json())["error"] == "invalid_grant"


async def test_client_secret_post_works(provider: Provider) -> None:
    code = await provider.code()
    form = token_form(code, client_id="prometheus", client_secret=SECRET)
    resp = await provider.client.post("/dex/token", data=form)
    assert resp.status == 200


async def test_wrong_secret_is_401_invalid_client_with_basic_challenge(provider: Provider) -> None:
    code = await provider.code()
    for auth in (basic("prometheus", "wrong"), basic("nobody", SECRET)):
        resp = await provider.client.post("/dex/token", data=token_form(code), headers=auth)
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Basic")
        assert (await resp.json())["error"] == "invalid_client"
    # the code was not spent by the failed attempts
    ok = await provider.client.post("/dex/token", data=token_form(code), headers=BASIC)
    assert ok.status == 200


async def test_code_for_one_client_is_refused_to_another(provider: Provider) -> None:
    code = await provider.code()
    other = basic("grafana", "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN")
    resp = await provider.client.post("/dex/token", data=token_form(code), headers=other)
    assert (await resp.json())["error"] == "invalid_grant"


async def test_pkce_verifier_mismatch_is_invalid_grant(provider: Provider) -> None:
    code = await provider.code()
    form = token_form(code, code_verifier="x" * 43)
    resp = await provider.client.post("/dex/token", data=form, headers=BASIC)
    assert (await resp.json())["error"] == "invalid_grant"


async def test_unsupported_grant_type(provider: Provider) -> None:
    resp = await provider.client.post("/dex/token", data={"grant_type": "password"}, headers=BASIC)
    assert resp.status == 400
    assert (await resp.json())["error"] == "unsupported_grant_type"


async def test_unknown_redirect_uri_is_an_error_page_not_a_redirect(provider: Provider) -> None:
    resp = await provider.client.get(
        "/dex/auth",
        params=auth_params(redirect_uri="https://evil.example/cb"),
        allow_redirects=False,
    )
    assert resp.status == 400
    assert "Location" not in resp.headers
    assert resp.content_type == "text/html"
    assert "redirect_uri is not registered" in await resp.text()


async def test_unknown_client_is_an_error_page(provider: Provider) -> None:
    resp = await provider.client.get(
        "/dex/auth", params=auth_params(client_id="nobody"), allow_redirects=False
    )
    assert resp.status == 400 and "Location" not in resp.headers


async def test_errors_after_verification_redirect_back_with_state(provider: Provider) -> None:
    for changes, error in (
        ({"scope": "email"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": "-", "code_challenge_method": "-"}, "invalid_request"),  # PKCE for all
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ):
        resp = await provider.client.get("/dex/auth", params=auth_params(**changes), allow_redirects=False)
        assert resp.status == 302, changes
        params = query_of(resp.headers["Location"])
        assert resp.headers["Location"].startswith(CB + "?")
        assert (params["error"], params["state"], params["iss"]) == (error, "xyz", ISSUER)
        assert params["error_description"]


async def test_post_to_auth_works_like_get(provider: Provider) -> None:
    resp = await provider.client.post("/dex/auth", data=auth_params(), allow_redirects=False)
    assert resp.status == 303
    direct = await provider.client.get("/dex/auth/local", params=auth_params(), allow_redirects=False)
    assert direct.status == 303
    unknown = await provider.client.get("/dex/auth/github", params=auth_params(), allow_redirects=False)
    assert unknown.status == 400 and "Location" not in unknown.headers


async def test_login_form_cannot_be_completed_from_another_browser(provider: Provider) -> None:
    req = await provider.start_login()
    async with aiohttp.ClientSession() as other:  # no cookie of the first browser
        url = provider.client.make_url("/dex/auth/local/login")
        data = {"req": req, "login": EMAIL, "password": "password"}
        resp = await other.post(url, data=data, allow_redirects=False)
        assert resp.status == 400 and "Location" not in resp.headers
        assert "expired" in await resp.text()
    # the rightful browser still can
    assert (await provider.submit(req)).status == 303


async def test_a_login_request_completes_once(provider: Provider) -> None:
    req = await provider.start_login()
    assert (await provider.submit(req)).status == 303
    again = await provider.submit(req)
    assert again.status == 400 and "Location" not in again.headers


async def test_wrong_password_page_escapes_the_login_and_never_says_which_part(
    provider: Provider,
) -> None:
    req = await provider.start_login()
    unknown = await provider.submit(req, login="<script>alert(1)</script>@x")
    html = await unknown.text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    wrong = await provider.submit(req, password="nope")
    assert "Invalid email or password" in html and "Invalid email or password" in await wrong.text()


async def test_userinfo_refuses_missing_unknown_and_expired_tokens(provider: Provider) -> None:
    resp = await provider.client.get("/dex/userinfo")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    resp = await provider.client.get("/dex/userinfo", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    code = await provider.code()
    body = await (await provider.client.post("/dex/token", data=token_form(code), headers=BASIC)).json()
    provider.clock.advance(86400)
    resp = await provider.client.get(
        "/dex/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert resp.status == 401
    assert (await resp.json())["error"] == "invalid_token"


async def test_discovery_keys_and_health_are_served_under_the_issuer_path(
    provider: Provider,
) -> None:
    doc = await (
        await provider.client.get(
            "/dex/.well-known/openid-configuration", headers={"X-Forwarded-Host": "evil.example"}
        )
    ).json()
    assert doc["issuer"] == ISSUER and doc["token_endpoint"] == f"{ISSUER}/token"
    keys = await (await provider.client.get("/dex/keys")).json()
    assert len(keys["keys"]) == 2 and all("d" not in k for k in keys["keys"])
    health = await provider.client.get("/dex/healthz")
    assert health.status == 200
    assert (await provider.client.get("/.well-known/openid-configuration")).status == 404


async def test_unexpected_errors_are_500_with_a_request_id_and_no_detail(
    provider: Provider,
) -> None:
    from idgate.provider.web.routes import PROVIDER

    core = provider.client.app[PROVIDER]

    async def boom(*args: object) -> None:
        raise RuntimeError("secret-detail")

    core.tokens.token = boom
    core.logins.authorize = boom
    resp = await provider.client.post("/dex/token", data={"grant_type": "x"}, headers=BASIC)
    assert resp.status == 500
    body = await resp.json()
    assert body["error"] == "server_error" and "request id" in body["error_description"]
    assert "secret-detail" not in await resp.text()
    page = await provider.client.get("/dex/auth", params=auth_params(), allow_redirects=False)
    assert page.status == 500 and "secret-detail" not in await page.text()
    assert "request id" in await page.text()


async def test_browser_cookie_is_secure_httponly_lax_under_an_https_issuer(
    storage: object,
) -> None:
    import dataclasses

    from aiohttp.test_utils import TestClient, TestServer
    from tests.unit.provider.support import SETTINGS

    from idgate.clock import FrozenClock
    from idgate.provider.web.app import build_provider_app

    settings = dataclasses.replace(SETTINGS, issuer="https://kkp.example.com/dex")
    app = build_provider_app(settings, storage, FrozenClock())  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/dex/auth", params=auth_params(), allow_redirects=False)
        cookie = resp.headers["Set-Cookie"]
        assert "idgate_browser=" in cookie and "Path=/dex" in cookie
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie

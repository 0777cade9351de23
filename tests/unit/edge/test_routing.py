"""Routing: provider, sign-in web app, edge-answered endpoints, unknown hosts."""

from __future__ import annotations

from tests.unit.edge.conftest import Client, Env, alice, seal


async def test_unknown_host_gets_404_page(env: Env, client: Client) -> None:
    r = await client.get("/", host="nowhere.test")
    assert r.status == 404
    assert b"<html" in r.body and b"Not found" in r.body


async def test_healthy_is_answered_by_the_edge(env: Env, client: Client) -> None:
    r = await client.get("/oauth/healthy", host="APP.test:8080")
    assert (r.status, r.body) == (200, b"OK")
    assert env.upstream.requests == [] and env.signin.requests == []


async def test_provider_path_goes_to_provider_with_path_unchanged(env: Env, client: Client) -> None:
    r = await client.get("/dex/.well-known/openid-configuration?x=1", host="idp.test")
    assert r.status == 200
    assert r.json()["raw_path"] == "/dex/.well-known/openid-configuration?x=1"
    assert len(env.provider.requests) == 1
    r = await client.get("/dex", host="idp.test")
    assert r.status == 200


async def test_provider_host_outside_issuer_path_is_404(env: Env, client: Client) -> None:
    assert (await client.get("/other", host="idp.test")).status == 404
    assert (await client.get("/dexter", host="idp.test")).status == 404


async def test_signin_paths_go_to_signin_app_with_deployment_header(env: Env, client: Client) -> None:
    r = await client.get(
        "/oauth/start?rd=%2Fx", headers="X-Idgate-Deployment: evil\r\nX_Idgate_Deployment: evil\r\n"
    )
    assert r.status == 200
    assert r.json()["raw_path"] == "/oauth/start?rd=%2Fx"
    assert r.upstream_header("X-Idgate-Deployment") == ["app"]
    assert r.upstream_header("X_Idgate_Deployment") == []
    for path in ("/oauth/callback", "/oauth/sign_in", "/oauth/sign_out", "/oauth/userinfo"):
        assert (await client.get(path)).status == 200
    assert len(env.signin.requests) == 5
    assert env.upstream.requests == []


async def test_signin_app_receives_the_proxy_cookies(env: Env, client: Client) -> None:
    r = await client.get("/oauth/callback", headers="Cookie: app_oauth2_proxy_csrf=abc; a=b\r\n")
    assert r.upstream_header("Cookie") == ["app_oauth2_proxy_csrf=abc; a=b"]


async def test_auth_endpoint_answers_202_401_403(env: Env, client: Client) -> None:
    r = await client.get("/oauth/auth")
    assert r.status == 401
    ok = seal(alice())
    r = await client.get("/oauth/auth", headers=f"Cookie: app_oauth2_proxy={ok}\r\n")
    assert r.status == 202
    assert r.header("X-Auth-Request-User") == "alice-sub"
    assert r.header("X-Auth-Request-Email") == "alice@example.com"
    assert r.header("X-Auth-Request-Groups") == "org,org:team"
    assert r.header("X-Auth-Request-Preferred-Username") == "alice"
    bad = seal(alice(email="mallory@evil.test"))
    r = await client.get("/oauth/auth", headers=f"Cookie: app_oauth2_proxy={bad}\r\n")
    assert r.status == 403
    assert env.upstream.requests == []


async def test_forwarded_headers_are_set(env: Env, client: Client) -> None:
    r = await client.get(
        "/dex/keys",
        host="idp.test",
        headers="X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n",
    )
    assert r.upstream_header("X-Forwarded-For") == ["10.0.0.1, 127.0.0.1"]
    assert r.upstream_header("X-Forwarded-Proto") == ["https"]
    assert r.upstream_header("X-Forwarded-Host") == ["idp.test"]
    assert r.upstream_header("Host") == ["idp.test"]
    r = await client.get("/dex/keys", host="idp.test", headers="X-Forwarded-Proto: gopher\r\n")
    assert r.upstream_header("X-Forwarded-Proto") == ["http"]

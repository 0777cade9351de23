"""Issue 4 at the edge over real sockets: the signed assertion (checked by a JWT verifier against the
published JWKS), Connection cannot strip identity, X-Forwarded-* trust, /oauth/auth query constraints,
per-route rules with reasons, WebSocket Origin, pass_host_header, ping_path."""

from __future__ import annotations

import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from tests.unit.edge.conftest import NOW, Client, Env, alice, seal

from idgate.settings import RouteRule

BROWSER = "Accept: text/html\r\n"


def cookie(value: str) -> str:
    return f"Cookie: app_oauth2_proxy={value}\r\n"


async def test_assertion_verifies_against_published_jwks_and_is_reused(env: Env, client: Client) -> None:
    keys = await client.get("/oauth/jwks.json")
    assert keys.status == 200
    key_set = KeySet.import_key_set(json.loads(keys.body))
    c = cookie(seal(alice()))  # a browser sends the same cookie each time
    r = await client.get("/x", headers=c)
    [token] = r.upstream_header("X-Idgate-Assertion")
    claims = jwt.decode(token, key_set, algorithms=["ES256"]).claims
    assert claims["iss"] == "https://app.test:8080"
    assert claims["aud"] == f"http://127.0.0.1:{env.upstream.port}"
    assert (claims["sub"], claims["email"], claims["groups"]) == (
        "alice-sub",
        "alice@example.com",
        ["org", "org:team"],
    )
    assert claims["exp"] - claims["iat"] == 60
    again = await client.get("/y", headers=c)
    assert again.upstream_header("X-Idgate-Assertion") == [token]  # not re-signed per request
    env.clock.advance(31)
    later = await client.get("/y", headers=c)
    assert later.upstream_header("X-Idgate-Assertion") != [token]


async def test_client_assertion_header_is_never_forwarded(env: Env, client: Client) -> None:
    r = await client.get("/-/healthy", headers="X-Idgate-Assertion: forged\r\n")
    assert r.upstream_header("X-Idgate-Assertion") == []


@pytest.mark.parametrize("proxy_overrides", [{"pass_idgate_assertion": False}])
async def test_assertion_can_be_turned_off(env: Env, client: Client) -> None:
    r = await client.get("/x", headers=cookie(seal(alice())))
    assert r.upstream_header("X-Idgate-Assertion") == []


async def test_connection_header_cannot_remove_identity(env: Env, client: Client) -> None:
    hdr = "Connection: keep-alive, X-Forwarded-Email, X-Idgate-Assertion, X-Forwarded-User\r\n"
    r = await client.get("/x", headers=hdr + cookie(seal(alice())))
    assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
    assert r.upstream_header("X-Forwarded-User") == ["alice-sub"]
    assert len(r.upstream_header("X-Idgate-Assertion")) == 1


@pytest.mark.parametrize("proxy_overrides", [{"trusted_proxy_ips": ("192.0.2.0/24",)}])
async def test_forwarded_headers_from_untrusted_peer_are_replaced(env: Env, client: Client) -> None:
    r = await client.get(
        "/-/healthy",
        headers="X-Forwarded-For: 10.9.9.9\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 1.2.3.4\r\n",
    )
    assert r.upstream_header("X-Forwarded-For") == ["127.0.0.1"]
    assert r.upstream_header("X-Forwarded-Proto") == ["http"]
    assert r.upstream_header("X-Real-IP") == []


async def test_auth_endpoint_query_constraints(env: Env, client: Client) -> None:
    c = cookie(seal(alice()))
    assert (await client.get("/oauth/auth?allowed_groups=org:team,x", headers=c)).status == 202
    assert (await client.get("/oauth/auth?allowed_groups=admins", headers=c)).status == 403
    assert (await client.get("/oauth/auth?allowed_emails=bob@example.com", headers=c)).status == 403
    assert (await client.get("/oauth/auth?allowed_email_domains=example.com", headers=c)).status == 202
    assert (await client.get("/oauth/auth?allowed_groups=admins")).status == 401


@pytest.mark.parametrize(
    "proxy_overrides",
    [{"routes": (RouteRule(path="^/admin/", methods=("POST",), allowed_groups=("org:admins",)),)}],
)
async def test_route_rule_refuses_with_its_reason_and_a_request_id(env: Env, client: Client) -> None:
    c = cookie(seal(alice()))
    assert (await client.get("/admin/x", headers=c)).status == 200  # GET is not covered by the rule
    r = await client.request(
        f"POST /x/../admin/x HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\n{BROWSER}{c}\r\n".encode()
    )
    assert r.status == 403
    assert b"route[0]:not_in_allowed_groups" in r.body
    rid = r.header("X-Request-Id")
    assert rid and rid.encode() in r.body


def handshake(origin: str) -> bytes:
    ws = (
        "GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"{origin}" + cookie(seal(alice())) + "\r\n"
    )
    return ws.encode()


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "https://app.test.evil.example", "null", "http://app.test:8081"]
)
async def test_websocket_from_foreign_origin_is_refused(env: Env, client: Client, origin: str) -> None:
    r = await client.request(handshake(f"Origin: {origin}\r\n"))
    assert r.status == 403 and b"websocket_origin_not_allowed" in r.body


@pytest.mark.parametrize("proxy_overrides", [{"whitelist_domains": (".example.org",)}])
@pytest.mark.parametrize(
    "origin", ["http://app.test:8080", "https://app.test:8080", "https://grafana.example.org", None]
)
async def test_websocket_from_own_or_whitelisted_origin_is_tunnelled(
    env: Env, client: Client, origin: str | None
) -> None:
    r = await client.request(handshake(f"Origin: {origin}\r\n" if origin else ""))
    assert r.status == 101, r.body


@pytest.mark.parametrize("proxy_overrides", [{"pass_host_header": False, "ping_path": "/ping"}])
async def test_pass_host_header_false_and_ping_path(env: Env, client: Client) -> None:
    r = await client.get("/x", headers=cookie(seal(alice())))
    assert r.upstream_header("Host") == [f"127.0.0.1:{env.upstream.port}"]
    assert (await client.get("/ping")).body == b"OK"


@pytest.mark.parametrize("proxy_overrides", [{"api_routes": ("^/api/",)}])
async def test_api_routes_get_401_not_a_redirect(env: Env, client: Client) -> None:
    assert (await client.get("/api/v1/x", headers=BROWSER)).status == 401
    assert (await client.get("/page", headers=BROWSER)).status == 302


def test_now_constant_is_shared() -> None:
    assert NOW > 0

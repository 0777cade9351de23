"""OAuth2-Proxy options at the edge over real sockets: refresh (a new cookie on the proxied response and
on ``/oauth/auth``'s, a refused refresh ends the session, one refresh for many requests), identity header
options, skip-auth routes and preflights, ``authenticated_emails_file``, and TLS to the upstream."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.integration.proxy.edge_world import EdgeWorld, cookie_pairs, edge_world, set_cookies, sign_in
from tests.many_groups import many_groups
from tests.unit.edge.conftest import NOW, Response, alice

from idgate.config.options import ProxyOptions, runtime_options
from idgate.sessions.base import Session
from idgate.sessions.cookie_store import CookieSessions

SESSION = "app_oauth2_proxy"
BROWSER = "Accept: text/html\r\n"


async def get(w: EdgeWorld, path: str, headers: str = "", method: str = "GET") -> Response:
    c = await w.client()
    try:
        return await c.request(f"{method} {path} HTTP/1.1\r\nHost: app.test\r\n{headers}\r\n".encode())
    finally:
        await c.close()


def stale(**over: object) -> Session:
    """The test provider's person, due for refresh (signed in two minutes ago, ``cookie_refresh`` 1 min)."""
    return alice(user="alice-id", refresh_token="rt-old", created_at=NOW - 120, **over)


# -- refresh ----------------------------------------------------------------------------------------
async def test_refreshed_session_comes_back_on_the_proxied_response(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0, cookie_domains=("app.test",)) as w:
        w.idp.refresh_tokens = True
        w.idp.claims["groups"] = ["org"]  # removed from the team since sign-in
        r = await get(w, "/x", await w.cookie(stale()))
        assert r.status == 200 and w.idp.refreshes == 1
        assert r.upstream_header("X-Forwarded-Groups") == ["org"]  # groups read again
        header = set_cookies(r)[SESSION]
        assert "Domain=app.test" in header and "HttpOnly" in header
        value = header.split(";", 1)[0].split("=", 1)[1]
        fresh = CookieSessions(w.proxy, w.clock).open(value, w.clock.now())
        assert fresh is not None and fresh.created_at == NOW and fresh.groups == ("org",)
        assert fresh.refresh_token and fresh.refresh_token.startswith("rt-")
        again = await get(w, "/x", f"Cookie: {SESSION}={value}\r\n")
        assert again.status == 200 and set_cookies(again) == {} and w.idp.refreshes == 1


async def test_refused_refresh_clears_the_cookie_and_is_unauthenticated(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0) as w:
        w.idp.refuse_refresh = True
        r = await get(w, "/x", BROWSER + await w.cookie(stale()))
        assert r.status == 302 and (r.header("Location") or "").startswith("/oauth/start?rd=")
        assert "Max-Age=0" in set_cookies(r)[SESSION]
        assert w.upstream.requests == [] and w.idp.refreshes == 1


async def test_many_concurrent_requests_refresh_once(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0) as w:
        w.idp.refresh_tokens = True
        cookie = await w.cookie(stale())
        clients = [await w.client() for _ in range(20)]
        try:
            answers = await asyncio.gather(*(c.get("/x", headers=cookie) for c in clients))
        finally:
            for c in clients:
                await c.close()
        assert [a.status for a in answers] == [200] * 20
        assert w.idp.refreshes == 1


async def test_auth_endpoint_refreshes_and_numbers_the_cookies_for_nginx(tmp_path: Path) -> None:
    """``/oauth/auth`` refreshes a due session as the hot path does and repeats each ``Set-Cookie`` as
    ``X-Idgate-Set-Cookie-<n>``: what the rendered nginx config copies to the browser, one by one."""
    async with edge_world(tmp_path, cookie_refresh=60.0) as w:
        w.idp.refresh_tokens = True
        r = await get(w, "/oauth/auth", await w.cookie(stale()))
        assert r.status == 202 and w.idp.refreshes == 1
        assert r.header("X-Auth-Request-Email") == "alice@example.com"
        header = set_cookies(r)[SESSION]
        assert r.header("X-Idgate-Set-Cookie-0") == header and r.header("X-Idgate-Set-Cookie-1") is None
        # a session that now needs two cookies (many groups): both chunks, in order
        w.idp.claims["groups"] = many_groups(1000)
        r = await get(w, "/oauth/auth", await w.cookie(stale()))
        assert r.status == 202 and w.idp.refreshes == 2
        values = [v for k, v in r.headers if k.lower() == "set-cookie"]
        assert [v.split("=", 1)[0] for v in values] == [f"{SESSION}_{i}" for i in range(len(values))]
        copies = [r.header(f"X-Idgate-Set-Cookie-{i}") for i in range(len(values) + 1)]
        assert len(values) > 1 and copies == [*values, None]


async def test_auth_endpoint_clears_a_session_whose_refresh_is_refused(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_refresh=60.0) as w:
        w.idp.refuse_refresh = True
        r = await get(w, "/oauth/auth", await w.cookie(stale()))
        assert r.status == 401 and w.idp.refreshes == 1
        assert "Max-Age=0" in set_cookies(r)[SESSION]
        assert r.header("X-Idgate-Set-Cookie-0") == set_cookies(r)[SESSION]


# -- identity headers -------------------------------------------------------------------------------
async def test_token_and_header_options(tmp_path: Path) -> None:
    session = alice(access_token="at-123", id_token="eyJh.eyJi.c2ln")
    async with edge_world(
        tmp_path,
        pass_access_token=True,
        pass_authorization_header=True,
        set_xauthrequest=True,
        set_authorization_header=True,
        prefer_email_to_user=True,
    ) as w:
        cookie = await w.cookie(session)
        r = await get(w, "/x", cookie + "Authorization: Basic Zm9yZ2Vk\r\n")
        assert r.upstream_header("X-Forwarded-Access-Token") == ["at-123"]
        assert r.upstream_header("Authorization") == ["Bearer eyJh.eyJi.c2ln"]  # the client's is dropped
        assert r.upstream_header("X-Forwarded-User") == ["alice@example.com"]
        assert r.upstream_header("X-Auth-Request-Email") == ["alice@example.com"]
        assert r.upstream_header("X-Auth-Request-User") == ["alice@example.com"]
        auth = await get(w, "/oauth/auth", cookie)
        assert auth.status == 202
        assert auth.header("Authorization") == "Bearer eyJh.eyJi.c2ln"
        assert auth.header("X-Auth-Request-Access-Token") == "at-123"
        assert auth.header("X-Auth-Request-User") == "alice@example.com"


async def test_tokens_stay_out_of_headers_by_default(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        cookie = await w.cookie(alice(access_token="at-123", id_token="eyJh.eyJi.c2ln"))
        r = await get(w, "/x", cookie + "Authorization: Basic Y2xpZW50\r\n")
        assert r.upstream_header("X-Forwarded-Access-Token") == []
        assert r.upstream_header("Authorization") == ["Basic Y2xpZW50"]  # the client's own
        assert r.upstream_header("X-Forwarded-User") == ["alice-sub"]
        assert r.upstream_header("X-Auth-Request-Email") == []
        auth = await get(w, "/oauth/auth", cookie)
        assert auth.header("Authorization") is None and auth.header("X-Auth-Request-Access-Token") is None


async def test_access_token_from_a_real_sign_in_reaches_the_upstream(tmp_path: Path) -> None:
    async with edge_world(tmp_path, pass_access_token=True) as w:
        c = await w.client()
        _, callback = await sign_in(w, c)
        r = await c.get("/x", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        [token] = r.upstream_header("X-Forwarded-Access-Token")
        assert token.startswith("at-")
        await c.close()


# -- what passes without a session ------------------------------------------------------------------
async def test_skip_auth_routes_preflight_and_authenticated_emails_file(tmp_path: Path) -> None:
    emails = tmp_path / "emails.txt"
    emails.write_text("# the on-call contractors\nBob@Contractor.example\n\n")
    options = runtime_options(
        ProxyOptions(
            skip_auth_routes=["GET=^/public/", "^/anymethod/"],
            skip_auth_preflight=True,
            authenticated_emails_file=str(emails),
            email_domains=["example.com"],
        ),
        "cookie",
    )
    async with edge_world(tmp_path, **options) as w:
        assert (await get(w, "/public/logo.png")).status == 200
        assert (await get(w, "/public/x", BROWSER + "Content-Length: 0\r\n", "POST")).status == 302
        assert (await get(w, "/anymethod/x", "Content-Length: 0\r\n", "DELETE")).status == 200
        preflight = await get(w, "/api/x", "Origin: https://other.example\r\n", "OPTIONS")
        assert preflight.status == 200 and preflight.upstream_header("X-Forwarded-Email") == []
        assert (await get(w, "/x", await w.cookie())).status == 200  # example.com
        bob = alice(user="bob-id", email="bob@contractor.example")
        assert (await get(w, "/x", await w.cookie(bob))).status == 200  # listed in the file
        eve = alice(user="eve-id", email="eve@contractor.example")
        r = await get(w, "/x", BROWSER + await w.cookie(eve))
        assert r.status == 403 and b"email_domain_not_allowed" in r.body


async def test_preflight_needs_a_session_without_the_option(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        assert (await get(w, "/api/x", "Accept: application/json\r\n", "OPTIONS")).status == 401


# -- TLS to the upstream ----------------------------------------------------------------------------
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upstream.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return ctx


@asynccontextmanager
async def tls_upstream(tmp_path: Path) -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="tls:" + request.headers.get("X-Forwarded-Email", ""))

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed(tmp_path))
    await site.start()
    server = site._server
    assert server is not None
    try:
        yield server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


async def test_https_upstream_with_insecure_skip_verify(tmp_path: Path) -> None:
    async with tls_upstream(tmp_path) as port:
        url = f"https://127.0.0.1:{port}"
        async with edge_world(tmp_path, upstream=url, ssl_upstream_insecure_skip_verify=True) as w:
            r = await get(w, "/x", await w.cookie())
            assert r.status == 200 and r.body == b"tls:alice@example.com"


async def test_https_upstream_with_an_unverifiable_certificate_is_502(tmp_path: Path) -> None:
    async with (
        tls_upstream(tmp_path) as port,
        edge_world(tmp_path, upstream=f"https://127.0.0.1:{port}") as w,
    ):
        r = await get(w, "/x", BROWSER + await w.cookie())
        assert r.status == 502


# -- /oauth/auth asks about the request nginx is guarding ---------------------------------------------
async def test_oauth_auth_applies_route_rules_and_skip_routes_to_the_forwarded_uri(tmp_path: Path) -> None:
    """Behind nginx (``idgate render nginx``), ``X-Forwarded-Method``/``-Uri`` name the request: the
    per-route rules and skip routes apply to it, and without them every route rule applies."""
    from idgate.settings import RouteRule

    admins = RouteRule(path="^/admin/", allowed_groups=("org:admins",))
    async with edge_world(tmp_path, routes=(admins,), skip_auth_routes=(("GET", "^/public/"),)) as w:
        alice_cookie = await w.cookie()  # in org and org:team, not org:admins

        def asking(uri: str, method: str = "GET") -> str:
            return f"X-Forwarded-Uri: {uri}\r\nX-Forwarded-Method: {method}\r\n"

        assert (await get(w, "/oauth/auth", asking("/graph?x=1") + alice_cookie)).status == 202
        refused = await get(w, "/oauth/auth", asking("/admin/users") + alice_cookie)
        assert refused.status == 403
        # dot segments and encodings are normalised before the rules see the path
        assert (await get(w, "/oauth/auth", asking("/x/../admin/users") + alice_cookie)).status == 403
        assert (await get(w, "/oauth/auth", asking("/%61dmin/users") + alice_cookie)).status == 403
        # nothing says which request: every route rule applies (fail closed)
        assert (await get(w, "/oauth/auth", alice_cookie)).status == 403
        admin = await w.cookie(alice(user="root-id", groups=("org", "org:admins")))
        assert (await get(w, "/oauth/auth", asking("/admin/users") + admin)).status == 202
        # a skip route passes without a session, and without identity
        open_ = await get(w, "/oauth/auth", asking("/public/logo.png"))
        assert open_.status == 202 and open_.header("X-Auth-Request-Email") is None
        assert (await get(w, "/oauth/auth", asking("/public/logo.png", "POST"))).status == 401


async def test_oauth_auth_ignores_the_forwarded_uri_of_a_peer_it_does_not_trust(tmp_path: Path) -> None:
    from idgate.settings import RouteRule

    admins = RouteRule(path="^/admin/", allowed_groups=("org:admins",))
    async with edge_world(tmp_path, routes=(admins,), reverse_proxy=False) as w:
        cookie = await w.cookie()
        r = await get(w, "/oauth/auth", "X-Forwarded-Uri: /graph\r\n" + cookie)
        assert r.status == 403  # the rules apply as if the path were unknown

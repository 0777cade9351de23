"""The sign-in app over real HTTP against a real (test) OIDC provider, with the headers the edge sets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from joserfc.jwk import RSAKey
from tests.integration.proxy.oidc_double import OIDCDouble
from tests.shared_data import shared_testdata

from idgate.clock import FrozenClock
from idgate.proxy.csrf import LoginStateCookie
from idgate.proxy.web import build_signin_app
from idgate.sessions.cookie_store import CookieSessions
from idgate.settings import ProxySettings

HOST = "grafana.test"
CALLBACK = f"http://{HOST}/oauth/callback"


CORPUS = shared_testdata("open-redirects.txt").read_text(encoding="utf-8").splitlines()


@dataclass
class Browser:
    """Talks to the sign-in app as the edge forwards a browser's requests; keeps cookies by hand."""

    http: aiohttp.ClientSession
    app: TestServer
    deployment: str = "grafana"
    proto: str = "http"
    jar: dict[str, str] = field(default_factory=dict)

    async def get(self, target: str, method: str = "GET", **headers: str) -> aiohttp.ClientResponse:
        parts = urlsplit(target)
        path = parts.path + ("?" + parts.query if parts.query else "")
        base = {
            "X-Idgate-Deployment": self.deployment,
            "X-Forwarded-Proto": self.proto,
            "X-Forwarded-Host": HOST,
            "X-Forwarded-For": "192.0.2.1",
        }
        if self.jar:
            base["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        url = self.app.make_url(path)
        async with self.http.request(method, url, headers={**base, **headers}, allow_redirects=False) as r:
            await r.read()
        for name, morsel in r.cookies.items():
            if morsel["max-age"] == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = morsel.value
        return r

    async def provider(self, location: str) -> str:
        """Follow the provider's redirect; the provider signs the person in at once."""
        async with self.http.get(location, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
            return r.headers["Location"]


@dataclass
class World:
    idp: OIDCDouble
    proxy: ProxySettings
    clock: FrozenClock
    browser: Browser


@pytest.fixture
async def world() -> AsyncIterator[World]:
    idp = OIDCDouble(redirect_uris=(CALLBACK,))
    await idp.start()
    proxy = ProxySettings(
        name="grafana",
        host=HOST,
        upstream="http://127.0.0.1:9",
        issuer_url=idp.issuer,
        client_id=idp.client_id,
        client_secret=idp.client_secret,
        encryption_key=b"0123456789abcdef0123456789abcdef",
        scopes=("openid", "email", "groups"),
        whitelist_domains=(".example.org",),
    )
    clock = FrozenClock(idp.now)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        app = TestServer(build_signin_app([proxy], clock, http), host="127.0.0.1")
        await app.start_server()
        yield World(idp, proxy, clock, Browser(http, app))
        await app.close()
    await idp.close()


async def sign_in(w: World, rd: str = "/dashboards") -> aiohttp.ClientResponse:
    start = await w.browser.get(f"/oauth/start?rd={quote(rd, safe='')}")
    assert start.status == 302
    back = await w.browser.provider(start.headers["Location"])
    return await w.browser.get(back)


async def test_start_sends_the_browser_to_the_provider(world: World) -> None:
    resp = await world.browser.get("/oauth/start?rd=/x", Host="evil.example")
    location = urlsplit(resp.headers["Location"])
    q = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == world.idp.issuer + "/auth"
    assert q["redirect_uri"] == CALLBACK  # from the configured host, never the request's
    assert q["response_type"] == "code" and q["client_id"] == "grafana"
    assert q["scope"] == "openid email groups" and q["code_challenge_method"] == "S256"
    assert len(q["state"]) >= 43 and len(q["nonce"]) >= 43 and len(q["code_challenge"]) == 43
    morsel = resp.cookies["grafana_oauth2_proxy_csrf"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert morsel["max-age"] == "900" and not morsel["secure"]


async def test_csrf_cookie_is_secure_over_https(world: World) -> None:
    world.browser.proto = "https"
    resp = await world.browser.get("/oauth/start")
    assert resp.cookies["grafana_oauth2_proxy_csrf"]["secure"]
    assert "redirect_uri=https%3A%2F%2Fgrafana.test%2Foauth%2Fcallback" in resp.headers["Location"]


async def test_full_sign_in_sets_a_session_the_store_opens(world: World) -> None:
    resp = await sign_in(world, rd="/d/abc?orgId=1")
    assert resp.status == 302 and resp.headers["Location"] == "/d/abc?orgId=1"
    session = CookieSessions(world.proxy, world.clock).load(world.browser.jar)
    assert session is not None
    assert (session.user, session.email, session.email_verified) == ("alice-id", "alice@example.com", True)
    assert session.groups == ("org", "org:team") and session.preferred_username == "alice"
    assert session.expires_at == world.clock.now() + world.proxy.cookie_expire
    morsel = resp.cookies["grafana_oauth2_proxy"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    assert morsel["max-age"] == str(int(world.proxy.cookie_expire))
    assert resp.cookies["grafana_oauth2_proxy_csrf"]["max-age"] == "0"
    assert "grafana_oauth2_proxy_csrf" not in world.browser.jar
    [form] = world.idp.token_requests
    assert form["grant_type"] == "authorization_code" and form["redirect_uri"] == CALLBACK
    assert len(form["code_verifier"]) >= 43

    who = await world.browser.get("/oauth/userinfo")
    assert who.status == 200
    assert await who.json() == {
        "user": "alice-id",
        "email": "alice@example.com",
        "preferredUsername": "alice",
        "groups": ["org", "org:team"],
    }


async def test_whitelisted_absolute_target_and_header_source(world: World) -> None:
    start = await world.browser.get("/oauth/start", **{"X-Auth-Request-Redirect": "https://a.example.org/x"})
    back = await world.browser.provider(start.headers["Location"])
    resp = await world.browser.get(back)
    assert resp.headers["Location"] == "https://a.example.org/x"


async def test_state_mismatch_is_refused_without_a_session(world: World) -> None:
    start = await world.browser.get("/oauth/start")
    back = urlsplit(await world.browser.provider(start.headers["Location"]))
    code = parse_qs(back.query)["code"][0]
    resp = await world.browser.get(f"/oauth/callback?code={code}&state=forged")
    assert resp.status == 403
    assert "grafana_oauth2_proxy" not in world.browser.jar
    assert world.idp.token_requests == []  # the code was never exchanged


async def test_replayed_callback_after_sign_in_is_refused(world: World) -> None:
    start = await world.browser.get("/oauth/start")
    back = await world.browser.provider(start.headers["Location"])
    assert (await world.browser.get(back)).status == 302
    world.browser.jar.pop("grafana_oauth2_proxy")
    replay = await world.browser.get(back)
    assert replay.status == 403
    assert "start again" in (await replay.text()).lower()
    assert "grafana_oauth2_proxy" not in world.browser.jar


async def test_callback_without_csrf_cookie_shows_start_again(world: World) -> None:
    resp = await world.browser.get("/oauth/callback?code=x&state=y")
    assert resp.status == 403
    assert 'href="/oauth/start"' in await resp.text()
    assert world.idp.token_requests == []


async def test_expired_csrf_cookie_is_refused(world: World) -> None:
    start = await world.browser.get("/oauth/start")
    back = await world.browser.provider(start.headers["Location"])
    world.clock.advance(15 * 60)
    assert (await world.browser.get(back)).status == 403
    assert world.idp.token_requests == []


async def test_provider_error_is_shown_escaped(world: World) -> None:
    start = await world.browser.get("/oauth/start")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    resp = await world.browser.get(f"/oauth/callback?error=%3Cscript%3Eaccess_denied&state={state}")
    assert resp.status == 403
    text = await resp.text()
    assert "&lt;script&gt;access_denied" in text and "<script>" not in text
    assert "grafana_oauth2_proxy_csrf" not in world.browser.jar


async def test_token_endpoint_down_gives_502(world: World) -> None:
    world.idp.down = True
    resp = await sign_in(world)
    assert resp.status == 502
    assert "grafana_oauth2_proxy" not in world.browser.jar


async def test_token_endpoint_unreachable_gives_502(world: World) -> None:
    start = await world.browser.get("/oauth/start")
    back = await world.browser.provider(start.headers["Location"])
    await world.idp.close()
    assert (await world.browser.get(back)).status == 502


async def test_unverified_email_is_refused(world: World) -> None:
    world.idp.claims["email_verified"] = "true"
    resp = await sign_in(world)
    assert resp.status == 403
    assert "grafana_oauth2_proxy" not in world.browser.jar


async def test_rotated_key_is_fetched_again_once(world: World) -> None:
    assert (await sign_in(world)).status == 302
    world.idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": "k2"}, private=True)
    world.browser.jar.clear()
    assert (await sign_in(world)).status == 403  # refetch refused within 60 s of the last fetch
    world.clock.advance(61)
    world.browser.jar.clear()
    assert (await sign_in(world)).status == 302
    assert world.idp.jwks_fetches == 2


async def test_sign_out_clears_every_cookie(world: World) -> None:
    await sign_in(world)
    world.browser.jar["grafana_oauth2_proxy_1"] = "stale-chunk"
    resp = await world.browser.get("/oauth/sign_out?rd=/bye", method="POST")
    location = resp.headers["Location"]
    assert resp.status == 302 and location.startswith(world.idp.issuer + "/logout?")
    assert parse_qs(urlsplit(location).query)["post_logout_redirect_uri"] == [f"http://{HOST}/bye"]
    cleared = {name for name, m in resp.cookies.items() if m["max-age"] == "0"}
    assert {"grafana_oauth2_proxy", "grafana_oauth2_proxy_1", "grafana_oauth2_proxy_csrf"} <= cleared
    assert world.browser.jar == {}
    assert (await world.browser.get("/oauth/userinfo")).status == 401


async def test_unknown_deployment_is_404(world: World) -> None:
    world.browser.deployment = "nope"
    assert (await world.browser.get("/oauth/start")).status == 404
    world.browser.deployment = ""
    assert (await world.browser.get("/oauth/userinfo")).status == 404


async def test_sign_in_page_goes_to_the_provider(world: World) -> None:
    resp = await world.browser.get("/oauth/sign_in?rd=/x")
    assert resp.status == 302 and resp.headers["Location"].startswith(world.idp.issuer + "/auth?")


def _safe_location(target: str) -> bool:
    """Same origin (a path the corpus's harmless lines use) or the configured host."""
    parts = urlsplit(target.replace("\\", "/"))
    if parts.scheme or parts.netloc:
        return parts.netloc == HOST
    return target.startswith("/") and not target.startswith("//")


@pytest.mark.parametrize("sink", ["start", "sign_in", "header"])
async def test_corpus_never_enters_the_state_cookie(world: World, sink: str) -> None:
    b = world.browser
    jar = LoginStateCookie(world.proxy)
    for payload in CORPUS:
        if sink == "header":
            if not payload.isascii() or any(c in payload for c in "\r\n\x00"):
                continue  # not representable as an HTTP header value
            resp = await b.get("/oauth/start", **{"X-Auth-Request-Redirect": payload})
        else:
            resp = await b.get(f"/oauth/{sink}?rd={quote(payload, safe='')}")
        assert resp.status == 302
        login = jar.load(b.jar, now=world.clock.now())
        assert login is not None
        assert _safe_location(login.rd), payload


async def test_corpus_never_reaches_sign_out_location(world: World) -> None:
    world.idp.end_session = False  # sign-out ends at rd itself
    for payload in CORPUS:
        resp = await world.browser.get(f"/oauth/sign_out?rd={quote(payload, safe='')}")
        assert resp.status == 302
        assert _safe_location(resp.headers["Location"]), payload


async def test_corpus_never_reaches_the_post_logout_redirect_uri(world: World) -> None:
    for payload in CORPUS:
        resp = await world.browser.get(f"/oauth/sign_out?rd={quote(payload, safe='')}")
        location = resp.headers["Location"]
        assert resp.status == 302 and location.startswith(world.idp.issuer + "/logout?"), payload
        [back] = parse_qs(urlsplit(location).query)["post_logout_redirect_uri"]
        assert _safe_location(back), payload


async def test_corpus_carried_in_state_is_validated_again_at_callback(world: World) -> None:
    # Whatever target a state cookie carries (here sealed with the deployment's own key),
    # the callback validates it again before it becomes a Location.
    b, jar = world.browser, LoginStateCookie(world.proxy)
    for payload in CORPUS:
        start = await b.get("/oauth/start")
        login = jar.load(b.jar, now=world.clock.now())
        assert login is not None
        b.jar[jar.name] = jar.seal(replace(login, rd=payload))
        back = await b.provider(start.headers["Location"])
        resp = await b.get(back)
        assert resp.status == 302, payload
        assert _safe_location(resp.headers["Location"]), payload

"""The sign-in flow through the edge: the sign-in page, the open-redirect corpus on ``sign_in?rd=``, the
attributes of every cookie, claims (``oidc_*_claim``, UserInfo), ``prompt``, PKCE methods and sign-out
at the provider's ``end_session_endpoint``."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from tests.integration.proxy.edge_world import cookie_pairs, edge_world, set_cookies, sign_in
from tests.many_groups import many_groups
from tests.shared_data import shared_testdata

from idgate.sessions.cookie_store import CookieSessions
from idgate.web import CSS, LOGO

CORPUS = shared_testdata("open-redirects.txt").read_text(encoding="utf-8").splitlines()
SESSION, CSRF = "app_oauth2_proxy", "app_oauth2_proxy_csrf"
HOST = "app.test:8080"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def start_href(page: str) -> str:
    match = re.search(r'id="sign-in" href="([^"]*)"', page)
    assert match, page
    return html.unescape(match.group(1))


async def test_sign_in_page_has_the_button_and_shows_configured_text_escaped(tmp_path: Path) -> None:
    async with edge_world(
        tmp_path,
        skip_provider_button=False,
        custom_sign_in_logo='https://cdn.example/logo.svg?a=1&b="x"',
        banner="<script>alert(1)</script> Welcome",
        footer="<img src=x onerror=alert(2)>",
    ) as w:
        c = await w.client()
        r = await c.get("/oauth/sign_in?rd=/dash%3Fx%3D1")
        page = r.body.decode()
        assert r.status == 200 and r.header("Cache-Control") == "no-store"
        assert start_href(page) == "/oauth/start?rd=%2Fdash%3Fx%3D1"
        assert f"Sign in with {urlsplit(w.idp.issuer).netloc}" in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Welcome" in page and "<script>" not in page
        assert "&lt;img src=x onerror=alert(2)&gt;" in page and "<img src=x" not in page
        assert 'src="https://cdn.example/logo.svg?a=1&amp;b=&#34;x&#34;"' in page
        await c.close()


async def test_sign_in_page_logo_from_a_file_and_none(tmp_path: Path) -> None:
    logo = tmp_path / "logo.svg"
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    async with edge_world(tmp_path, skip_provider_button=False, custom_sign_in_logo=str(logo)) as w:
        c = await w.client()
        page = (await c.get("/oauth/sign_in")).body.decode()
        assert 'src="data:image/svg+xml;base64,' in page and "<h1>Sign in</h1>" in page
        await c.close()
    async with edge_world(tmp_path, skip_provider_button=False, custom_sign_in_logo="-") as w:
        c = await w.client()
        assert b"<img" not in (await c.get("/oauth/sign_in")).body
        await c.close()


async def test_sign_in_page_defaults_to_idgates_logo_and_footer_and_dash_hides_both(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_provider_button=False) as w:
        c = await w.client()
        page = (await c.get("/oauth/sign_in")).body.decode()
        assert f'src="{LOGO}"' in page and '<footer class="foot">Secured by idgate</footer>' in page
        assert f"<style>{CSS}</style>" in page and "<title>Sign in</title>" in page
        assert "to continue to <strong>app.test:8080</strong>" in page
        await c.close()
    async with edge_world(tmp_path, skip_provider_button=False, custom_sign_in_logo="-", footer="-") as w:
        c = await w.client()
        page = (await c.get("/oauth/sign_in")).body.decode()
        assert "<img" not in page and '<footer class="foot"></footer>' in page
        await c.close()
    async with edge_world(tmp_path, skip_provider_button=False, banner="Staff only", footer="ACME IT") as w:
        c = await w.client()
        page = (await c.get("/oauth/sign_in")).body.decode()
        assert '<h1>Sign in</h1>\n<p class="banner">Staff only</p>' in page
        assert '<footer class="foot">ACME IT</footer>' in page
        await c.close()


async def test_proxy_error_page_shows_the_request_id_and_a_way_forward(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_provider_button=False) as w:
        c = await w.client()
        r = await c.get("/oauth/callback?state=forged&code=x", headers="X-Request-Id: trace-42\r\n")
        page = r.body.decode()
        assert r.status == 403 and "<h1>Login session expired</h1>" in page
        assert "Request id <code>trace-42</code>" in page  # the edge's id for this request
        assert '<a class="button" href="/oauth/start">Sign in again</a>' in page
        assert '<a class="button secondary" href="/">Home</a>' in page
        await c.close()


def safe(target: str) -> bool:
    """A path on this origin, or the deployment's own host."""
    parts = urlsplit(target.replace("\\", "/"))
    if parts.scheme or parts.netloc:
        return parts.netloc == HOST
    return target.startswith("/") and not target.startswith("//")


async def test_open_redirect_corpus_never_reaches_the_sign_in_button(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_provider_button=False) as w:
        c = await w.client()
        for payload in CORPUS:
            r = await c.get(f"/oauth/sign_in?rd={quote(payload, safe='')}")
            assert r.status == 200, payload
            rd = query(start_href(r.body.decode())).get("rd", "")
            assert safe(rd), (payload, rd)
        await c.close()


async def test_cookie_options_shape_every_cookie(tmp_path: Path) -> None:
    async with edge_world(
        tmp_path,
        cookie_domains=("test", "app.test"),
        cookie_path="/",
        cookie_samesite="strict",
        cookie_httponly=False,
        cookie_secure=True,
    ) as w:
        c = await w.client()
        start, callback = await sign_in(w, c, rd="/x")
        csrf = set_cookies(start)[CSRF]
        assert "Domain=app.test" in csrf and "Path=/;" in csrf and "Max-Age=900" in csrf
        assert "Secure" in csrf and "HttpOnly" in csrf  # always HttpOnly
        assert "SameSite=Lax" in csrf  # strict would never come back with the provider's redirect
        assert callback.status == 302 and callback.header("Location") == "/x"
        session = set_cookies(callback)[SESSION]
        assert "Domain=app.test" in session and "Path=/;" in session and "Secure" in session
        assert "SameSite=Strict" in session and "HttpOnly" not in session
        assert f"Max-Age={int(w.proxy.cookie_expire)}" in session
        cleared = set_cookies(callback)[CSRF]
        assert "Max-Age=0" in cleared and "Domain=app.test" in cleared  # else the browser keeps it
        out = await c.get("/oauth/sign_out", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        gone = set_cookies(out)
        assert "Max-Age=0" in gone[SESSION] and "Domain=app.test" in gone[SESSION]
        assert "Max-Age=0" in gone[CSRF] and "Domain=app.test" in gone[CSRF]
        await c.close()


async def test_cookie_path_applies_to_the_state_cookie_too(tmp_path: Path) -> None:
    async with edge_world(tmp_path, cookie_path="/grafana", cookie_samesite="") as w:
        c = await w.client()
        start, callback = await sign_in(w, c)
        assert "Path=/grafana;" in set_cookies(start)[CSRF]
        assert "SameSite" not in set_cookies(start)[CSRF]
        assert "Path=/grafana;" in set_cookies(callback)[SESSION]
        assert "Secure" not in set_cookies(callback)[SESSION]  # plain http, cookie_secure unset
        await c.close()


async def test_host_prefix_makes_every_cookie_secure_host_only_at_root(tmp_path: Path) -> None:
    """``__Host-`` (RFC 6265bis): session, chunks and state cookie are Secure, Path=/, without Domain —
    even over plain http and even if settings that ``idgate check`` refuses slipped through."""
    name = "__Host-app_oauth2_proxy"
    async with edge_world(
        tmp_path, cookie_name=name, cookie_domains=("test",), cookie_path="/app", cookie_secure=False
    ) as w:
        w.idp.claims = {**w.idp.claims, "groups": many_groups(400, 10, 10)}  # 2 cookies, deflated
        c = await w.client()
        start, callback = await sign_in(w, c, rd="/x")
        assert callback.status == 302 and callback.header("Location") == "/x"
        sent = {**set_cookies(start), **set_cookies(callback)}
        chunks = sorted(n for n in sent if n.startswith(f"{name}_") and n[len(name) + 1 :].isdigit())
        assert chunks[:2] == [f"{name}_0", f"{name}_1"]  # chunked: each chunk keeps the prefix
        assert set(sent) == {f"{name}_csrf", *chunks}
        for header in sent.values():
            attrs = [a.strip() for a in header.split(";")[1:]]
            assert "Secure" in attrs and "Path=/" in attrs, header
            assert not any(a.lower().startswith("domain=") for a in attrs), header
        r = await c.get("/x", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        out = await c.get("/oauth/sign_out", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        gone = set_cookies(out)
        assert set(gone) == {f"{name}_csrf", name, *chunks}
        for header in gone.values():
            assert "Max-Age=0" in header and "Secure" in header and "Path=/;" in header
            assert "Domain=" not in header
        await c.close()


async def test_secure_prefix_forces_secure(tmp_path: Path) -> None:
    name = "__Secure-app_oauth2_proxy"
    async with edge_world(tmp_path, cookie_name=name, cookie_domains=("test",), cookie_path="/app") as w:
        c = await w.client()
        start, callback = await sign_in(w, c, rd="/app/x")
        csrf, session = set_cookies(start)[f"{name}_csrf"], set_cookies(callback)[name]
        for header in (csrf, session):  # Secure over plain http; Domain and Path as configured
            assert "Secure" in header and "Domain=test" in header and "Path=/app;" in header
        await c.close()


async def test_groups_and_email_from_configured_claims(tmp_path: Path) -> None:
    async with edge_world(tmp_path, oidc_email_claim="mail", oidc_groups_claim="roles") as w:
        w.idp.claims = {
            "sub": "alice-id",
            "mail": "alice@example.com",
            "email": "wrong@example.com",
            "email_verified": True,
            "roles": ["org", "org:admins"],
            "groups": ["ignored"],
        }
        c = await w.client()
        _, callback = await sign_in(w, c)
        r = await c.get("/x", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        assert r.upstream_header("X-Forwarded-Groups") == ["org,org:admins"]
        await c.close()


async def test_claims_missing_from_the_id_token_come_from_userinfo(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        w.idp.id_token_omits = ("email", "email_verified", "groups")
        c = await w.client()
        _, callback = await sign_in(w, c)
        assert callback.status == 302, callback.body
        r = await c.get("/x", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        assert r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
        assert r.upstream_header("X-Forwarded-Groups") == ["org,org:team"]
        assert w.idp.userinfo_requests == 1
        await c.close()


async def test_userinfo_about_someone_else_is_refused(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        w.idp.id_token_omits = ("email", "email_verified")
        w.idp.userinfo_claims = {**w.idp.claims, "sub": "mallory-id"}
        c = await w.client()
        _, callback = await sign_in(w, c)
        assert callback.status == 403 and SESSION not in set_cookies(callback)
        await c.close()


async def test_no_userinfo_call_when_the_id_token_has_everything(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        _, callback = await sign_in(w, c)
        assert callback.status == 302 and w.idp.userinfo_requests == 0
        await c.close()


async def test_prompt_and_approval_prompt_are_forwarded(tmp_path: Path) -> None:
    for options, prompt in (
        ({}, "consent"),  # approval_prompt defaults to force
        ({"approval_prompt": "auto"}, None),
        ({"prompt": "login", "approval_prompt": "force"}, "login"),  # prompt wins
        ({"prompt": "select_account"}, "select_account"),
    ):
        async with edge_world(tmp_path, **options) as w:
            c = await w.client()
            r = await c.get("/oauth/start")
            assert query(r.header("Location") or "").get("prompt") == prompt, options
            await c.close()


async def test_code_challenge_method_plain_and_s256(tmp_path: Path) -> None:
    for method in ("plain", "S256"):
        async with edge_world(tmp_path, code_challenge_method=method) as w:
            c = await w.client()
            start, callback = await sign_in(w, c)
            sent = query(start.header("Location") or "")
            assert sent["code_challenge_method"] == method
            verifier = w.idp.token_requests[-1]["code_verifier"]
            assert (sent["code_challenge"] == verifier) is (method == "plain")
            assert callback.status == 302, callback.body
            await c.close()


async def test_sign_out_ends_the_provider_session_with_id_token_hint(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        _, callback = await sign_in(w, c)
        session = CookieSessions(w.proxy, w.clock).open(
            set_cookies(callback)[SESSION].split(";")[0].split("=", 1)[1], w.clock.now()
        )
        assert session is not None and session.id_token  # kept for the hint
        out = await c.get("/oauth/sign_out?rd=/bye", headers=f"Cookie: {cookie_pairs(callback)}\r\n")
        location = out.header("Location") or ""
        assert out.status == 302 and location.startswith(w.idp.issuer + "/logout?")
        assert query(location) == {
            "id_token_hint": session.id_token,
            "client_id": w.proxy.client_id,
            "post_logout_redirect_uri": f"http://{HOST}/bye",
        }
        assert "Max-Age=0" in set_cookies(out)[SESSION]
        await c.close()


async def test_sign_out_refuses_foreign_targets_at_the_provider_too(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        out = await c.get("/oauth/sign_out?rd=https%3A%2F%2Fevil.example%2F")
        assert query(out.header("Location") or "")["post_logout_redirect_uri"] == f"http://{HOST}/"
        assert "id_token_hint" not in query(out.header("Location") or "")  # no session, no hint
        await c.close()

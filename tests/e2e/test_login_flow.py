"""The foundation's promise, end to end: a KKP values file in, a login through the proxy, the identity
at the upstream. idgate runs as a subprocess; a scripted browser talks to it over real HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import EMAIL, PASSWORD, Running, Upstream

pytestmark = pytest.mark.e2e


def login_page(hops: list[Hop]) -> Hop:
    last = hops[-1]
    assert last.status == 200, [(h.url, h.status) for h in hops]
    assert "/dex/" in last.url and "password" in last.body.lower()
    return last


async def sign_in(
    b: Browser, idgate: Running, service: str, path: str, password: str = PASSWORD
) -> list[Hop]:
    hops = await b.get(idgate.url(service, path))
    return await b.submit(login_page(hops), {"login": EMAIL, "password": password})


async def test_login_reaches_upstream_with_identity(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    async with Browser() as b:
        first = await b.get(idgate.url("grafana", "/d/abc?orgId=1&var=a%20b"))
        # unauthenticated browser: to /oauth/start with the original target, then to the provider
        assert first[0].status == 302
        assert urlsplit(first[0].location or "").path == "/oauth/start"
        assert parse_qs(urlsplit(first[0].location or "").query)["rd"] == ["/d/abc?orgId=1&var=a%20b"]
        assert upstream.seen == []
        page = login_page(first)

        hops = await b.submit(page, {"login": EMAIL, "password": PASSWORD})
        assert hops[-1].status == 200, [(h.url, h.status, h.body[:200]) for h in hops]
        assert hops[-1].url == idgate.url("grafana", "/d/abc?orgId=1&var=a%20b")

    seen = upstream.seen[-1]
    assert seen.target == "/d/abc?orgId=1&var=a%20b"
    assert seen.headers["X-Forwarded-Email"] == EMAIL
    # the user is the ID token's sub, encoded the way Dex encodes it (user id + connector "local")
    assert seen.headers["X-Forwarded-User"] == "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"
    # the proxy's cookies are its own business, not the upstream's
    assert "_oauth2_proxy" not in seen.headers.get("Cookie", "")


async def test_forged_identity_headers_never_reach_upstream(idgate: Running, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, idgate, "grafana", "/")
        upstream.clear()
        forged = {
            "X-Forwarded-Email": "ceo@example.com",
            "x-forwarded-user": "ceo",
            "X-Forwarded-Groups": "admins",
        }
        hops = await b.get(idgate.url("grafana", "/api/dashboards"), headers=forged)
        assert hops[-1].status == 200
    headers = {k.lower(): v for k, v in upstream.seen[-1].headers.items()}
    assert headers["x-forwarded-email"] == EMAIL
    assert "ceo" not in headers["x-forwarded-user"]
    assert headers.get("x-forwarded-groups", "") != "admins"


async def test_forged_headers_without_session_are_refused(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    async with Browser() as b:
        hops = await b.get(idgate.url("grafana", "/"), headers={"X-Forwarded-Email": EMAIL}, follow=False)
    assert hops[0].status == 302
    assert upstream.seen == []


async def test_skip_auth_regex_passes_health_check_without_login(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    async with Browser() as b:
        hops = await b.get(idgate.url("prometheus", "/-/healthy"), follow=False)
        assert hops[0].status == 200
        assert upstream.seen[-1].target == "/-/healthy"
        # the query string is not the path: this must not skip authentication
        upstream.clear()
        hops = await b.get(idgate.url("prometheus", "/api/v1/query?x=/-/healthy"), follow=False)
        assert hops[0].status == 302
        assert upstream.seen == []


async def test_json_request_without_session_gets_401(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    async with Browser() as b:
        hops = await b.get(
            idgate.url("grafana", "/api/search"),
            headers={"Accept": "application/json"},
            follow=False,
        )
    assert hops[0].status == 401
    assert upstream.seen == []


async def test_wrong_password_never_reaches_upstream(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    async with Browser() as b:
        hops = await sign_in(b, idgate, "grafana", "/secret", password="not-the-password")
        assert hops[-1].status == 200
        assert "/dex/" in hops[-1].url
        assert "invalid" in hops[-1].body.lower()
        assert not any(k == "_oauth2_proxy" for k in b.cookies_for(idgate.url("grafana")))
    assert upstream.seen == []


async def test_tampered_cookie_is_no_session(idgate: Running, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, idgate, "grafana", "/")
        value = b.cookies_for(idgate.url("grafana"))["grafana_oauth2_proxy"]
        flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        upstream.clear()
    async with Browser() as attacker:
        hops = await attacker.get(
            idgate.url("grafana", "/"),
            headers={"Cookie": f"grafana_oauth2_proxy={flipped}", "Accept": "application/json"},
            follow=False,
        )
    assert hops[0].status == 401
    assert upstream.seen == []


async def test_session_cookie_is_bound_to_its_deployment(idgate: Running, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, idgate, "grafana", "/")
        value = b.cookies_for(idgate.url("grafana"))["grafana_oauth2_proxy"]
    upstream.clear()
    async with Browser() as other:
        hops = await other.get(
            idgate.url("alertmanager", "/"),
            headers={"Cookie": f"alertmanager_oauth2_proxy={value}", "Accept": "application/json"},
            follow=False,
        )
    assert hops[0].status == 401
    assert upstream.seen == []


async def test_github_org_restricts_access(idgate: Running, upstream: Upstream) -> None:
    """Prometheus requires org ``mygithuborg`` team ``mygroup``; a local user in no org is refused."""
    upstream.clear()
    async with Browser() as b:
        hops = await sign_in(b, idgate, "prometheus", "/graph")
    assert hops[-1].status == 403
    assert "github" in hops[-1].body.lower()
    assert upstream.seen == []


async def test_sign_out_ends_the_session(idgate: Running, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, idgate, "grafana", "/")
        hops = await b.get(idgate.url("grafana", "/oauth/sign_out"), follow=False)
        assert hops[0].status == 302
        upstream.clear()
        hops = await b.get(idgate.url("grafana", "/"), follow=False)
        assert hops[0].status == 302
        assert urlsplit(hops[0].location or "").path == "/oauth/start"
    assert upstream.seen == []


async def test_unknown_host_is_404(idgate: Running) -> None:
    async with Browser() as b:
        hops = await b.get(idgate.url("nothing-here", "/"), follow=False)
    assert hops[0].status == 404


async def test_health_endpoint_answers(idgate: Running) -> None:
    async with Browser() as b:
        hops = await b.get(idgate.url("grafana", "/oauth/healthy"), follow=False)
    assert hops[0].status == 200

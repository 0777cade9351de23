"""Header trust on the running product: identity headers sent by a client (any case, ``_`` for ``-``;
idgate's own and other proxies' in every lane: proxied, skip-auth, ``/oauth/auth``, WebSocket),
``Connection:`` naming the proxy's own headers, ``X-Forwarded-*`` from a peer that is not a trusted
proxy, and ``Host`` / ``X-Forwarded-Host`` never used to build a URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import EMAIL, PASSWORD, Running, Upstream, stop_idgate
from tests.security.conftest import Values, run_idgate
from tests.security.flows import cookie_header, login_page, sign_in
from tests.security.rawhttp import exchange, header, status

pytestmark = pytest.mark.e2e

FORGED = [
    ("X-Forwarded-Email", "ceo@example.com"),
    ("x-forwarded-email", "ceo@example.com"),
    ("X-FORWARDED-USER", "ceo"),
    ("X_Forwarded_Email", "ceo@example.com"),
    ("x_forwarded_user", "ceo"),
    ("X-Forwarded-Groups", "admins"),
    ("X_Forwarded_Groups", "admins"),
    ("X-Forwarded-Preferred-Username", "ceo"),
    ("X-Auth-Request-Email", "ceo@example.com"),
    ("X_Auth_Request_User", "ceo"),
    ("X-Idgate-Deployment", "prometheus"),
]
#: Other proxies' and gateways' identity headers, which upstreams (Grafana, Apache apps, Kubernetes) trust.
FOREIGN = [
    ("Remote-User", "ceo"),
    ("remote_groups", "admins"),
    ("X-Remote-User", "ceo"),
    ("X-Remote-Group", "admins"),
    ("X_REMOTE_GROUP", "admins"),
    ("OIDC_CLAIM_email", "ceo@example.com"),
    ("oidc-claim-groups", "admins"),
    ("OIDC_access_token", "ceo-token"),
    ("X-WEBAUTH-USER", "ceo"),
    ("x_webauth_user", "ceo"),
    ("Impersonate-User", "ceo"),
    ("Impersonate-Group", "admins"),
    ("X-User", "ceo"),
    ("X-Email", "ceo@example.com"),
    ("X-Auth-User", "ceo"),
    ("X-Amzn-Oidc-Identity", "ceo"),
    ("Cf-Access-Authenticated-User-Email", "ceo@example.com"),
    ("X-Goog-Authenticated-User-Email", "ceo@example.com"),
    ("X-MS-CLIENT-PRINCIPAL-NAME", "ceo"),
    ("X-Pomerium-Jwt-Assertion", "ceo-token"),
]


def assert_no_forged(headers: dict[str, str]) -> None:
    """Nothing a client forged reached the upstream, under any name."""
    values = " ".join(f"{k}={v}" for k, v in headers.items())
    assert "ceo" not in values and "admins" not in values, values
    assert not any("_" in k for k in headers), headers


def raw_get(idgate: Running, path: str, cookie: str, extra: list[tuple[str, str]]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: grafana.localhost:{idgate.port}", f"Cookie: {cookie}"]
    lines += [f"{k}: {v}" for k, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_forged_identity_headers_in_any_spelling_never_reach_the_upstream(
    idgate: Running, upstream: Upstream
) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        cookie = cookie_header(b, idgate.url("grafana"))
    upstream.clear()
    got = exchange(idgate.port, raw_get(idgate, "/forged", cookie, FORGED + FOREIGN))
    assert status(got) == 200
    seen = upstream.seen[-1].headers
    assert_no_forged(seen)
    assert {k.lower(): v for k, v in seen.items()}["x-forwarded-email"] == EMAIL


def test_forged_identity_headers_never_reach_a_skip_auth_route(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    got = exchange(idgate.port, raw_get(idgate, "/api/health", "", FORGED + FOREIGN))
    assert status(got) == 200
    assert [s.target for s in upstream.seen] == ["/api/health"]
    assert_no_forged(upstream.seen[-1].headers)


async def test_forged_identity_headers_never_reach_a_websocket_upstream(
    idgate: Running, upstream: Upstream
) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        cookie = cookie_header(b, idgate.url("grafana"))
    upstream.clear()
    extra = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", f"http://grafana.localhost:{idgate.port}"),
    ]
    exchange(idgate.port, raw_get(idgate, "/ws", cookie, extra + FORGED + FOREIGN))
    assert [s.target for s in upstream.seen] == ["/ws"]
    assert_no_forged(upstream.seen[-1].headers)


async def test_oauth_auth_answers_with_the_session_never_with_what_the_client_sent(idgate: Running) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        cookie = cookie_header(b, idgate.url("grafana"))
    for with_cookie in (cookie, ""):
        got = exchange(idgate.port, raw_get(idgate, "/oauth/auth", with_cookie, FORGED + FOREIGN))
        assert status(got) == (202 if with_cookie else 401), got[:300]
        head = got.partition(b"\r\n\r\n")[0].decode("latin-1")
        assert "ceo" not in head and "admins" not in head, head
        for name, _ in FOREIGN:
            assert header(got, name) is None, name
    assert (
        header(exchange(idgate.port, raw_get(idgate, "/oauth/auth", cookie, [])), "X-Auth-Request-Email")
        == EMAIL
    )


async def test_connection_cannot_remove_the_proxy_identity_headers(
    idgate: Running, upstream: Upstream
) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        cookie = cookie_header(b, idgate.url("grafana"))
    upstream.clear()
    extra = [("Connection", "keep-alive, X-Forwarded-Email, X-Forwarded-User, X-Forwarded-For")]
    assert status(exchange(idgate.port, raw_get(idgate, "/conn", cookie, extra))) == 200
    seen = {k.lower(): v for k, v in upstream.seen[-1].headers.items()}
    assert seen["x-forwarded-email"] == EMAIL
    assert "x-forwarded-user" in seen and "x-forwarded-for" in seen


def test_host_and_forwarded_host_do_not_build_urls(idgate: Running) -> None:
    evil = [
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "host=evil.example"),
    ]
    got = exchange(idgate.port, raw_get(idgate, "/x", "", evil))
    assert status(got) == 302
    location = header(got, "Location") or ""
    assert "evil" not in location
    start = exchange(
        idgate.port, raw_get(idgate, location if location.startswith("/") else "/oauth/start", "", evil)
    )
    to_provider = header(start, "Location") or ""
    assert "evil" not in to_provider, to_provider
    redirect_uri = parse_qs(urlsplit(to_provider).query).get("redirect_uri", [""])[0]
    # the scheme may come from a trusted proxy (loopback is trusted by default), the host never
    assert redirect_uri.split("://", 1)[1] == idgate.url("grafana", "/oauth/callback").split("://", 1)[1]
    # the provider's discovery document names the configured issuer whatever the Host says
    disco = exchange(
        idgate.port,
        f"GET /dex/.well-known/openid-configuration HTTP/1.1\r\nHost: kkp.localhost:{idgate.port}\r\n"
        "X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n\r\n".encode(),
    )
    assert b"evil" not in disco and status(disco) == 200


# -- X-Forwarded-* from a peer that is not a trusted proxy --------------------------------------------


def distrust_loopback(values: Values) -> None:
    for deployment in values["iap"]["deployments"].values():
        deployment.setdefault("config", {})["trusted_proxy_ips"] = ["203.0.113.0/24"]


@contextmanager
def adjusted_idgate(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, adjust: Callable[[Values], None]
) -> Iterator[Running]:
    """Another ``idgate serve`` of the example values, changed by ``adjust``."""
    running = run_idgate(tmp_path_factory.mktemp(adjust.__name__), upstream, adjust=adjust)
    try:
        yield running
    finally:
        assert stop_idgate(running) == 0, running.output()


@pytest.fixture(scope="module")
def strict_idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with adjusted_idgate(tmp_path_factory, upstream, distrust_loopback) as running:
        yield running


def test_forwarded_headers_from_an_untrusted_peer_are_replaced(
    strict_idgate: Running, upstream: Upstream
) -> None:
    upstream.clear()
    extra = [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-Proto", "https"), ("X-Real-IP", "1.2.3.4")]
    got = exchange(strict_idgate.port, raw_get(strict_idgate, "/api/health", "", extra))
    assert status(got) == 200
    seen = {k.lower(): v for k, v in upstream.seen[-1].headers.items()}
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert "1.2.3.4" not in seen.get("x-real-ip", "")


def test_forwarded_proto_from_an_untrusted_peer_does_not_change_urls(strict_idgate: Running) -> None:
    extra = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.example")]
    start = exchange(strict_idgate.port, raw_get(strict_idgate, "/oauth/start", "", extra))
    to_provider = header(start, "Location") or ""
    redirect_uri = parse_qs(urlsplit(to_provider).query).get("redirect_uri", [""])[0]
    assert redirect_uri == strict_idgate.url("grafana", "/oauth/callback"), to_provider


PAGE = "/d/abc?orgId=1&from=now-6h&refresh=5s"


async def _start_with_forwarded_uri(idgate: Running) -> str:
    """Sign in from ``/oauth/start`` (nginx's 401 hands over so) with ``X-Forwarded-Uri``; where it ends."""
    async with Browser() as b:
        hops = await b.get(idgate.url("grafana", "/oauth/start"), headers={"X-Forwarded-Uri": PAGE})
        hops = await b.submit(login_page(hops), {"login": EMAIL, "password": PASSWORD})
        assert hops[-1].status == 200, [(h.url, h.status) for h in hops]
        return hops[-1].url


async def test_a_trusted_proxy_names_the_page_to_come_back_to(idgate: Running) -> None:
    """nginx's 401 -> /oauth/start carries the page in X-Forwarded-Uri, whole query included."""
    assert await _start_with_forwarded_uri(idgate) == idgate.url("grafana", PAGE)


async def test_an_untrusted_peer_cannot_name_the_page_to_come_back_to(strict_idgate: Running) -> None:
    assert await _start_with_forwarded_uri(strict_idgate) == strict_idgate.url("grafana", "/")


# -- idgate.identity_headers: the list is the operator's to extend or narrow ---------------------------


def portal_headers(values: Values) -> None:
    values["idgate"]["identity_headers"] = {
        "strip": ["X-Portal-User", "X-Portal-Team-*"],
        "allow": ["X-WEBAUTH-*"],
    }


@pytest.fixture(scope="module")
def portal_idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with adjusted_idgate(tmp_path_factory, upstream, portal_headers) as running:
        yield running


def test_configured_identity_headers_are_removed_and_allowed_ones_pass(
    portal_idgate: Running, upstream: Upstream
) -> None:
    upstream.clear()
    sent = [("X-Portal-User", "ceo"), ("x_portal_team_name", "admins"), ("X-WEBAUTH-USER", "grafana-admin")]
    got = exchange(portal_idgate.port, raw_get(portal_idgate, "/api/health", "", sent + FOREIGN[:6]))
    assert status(got) == 200
    seen = upstream.seen[-1].headers
    assert_no_forged({k: v for k, v in seen.items() if k != "X-WEBAUTH-USER"})
    assert seen["X-WEBAUTH-USER"] == "grafana-admin"

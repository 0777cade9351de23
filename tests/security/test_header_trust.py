"""Header trust on the running product: identity headers sent by a client (any case, ``_`` for ``-``),
``Connection:`` naming the proxy's own headers, ``X-Forwarded-*`` from a peer that is not a trusted
proxy, and ``Host`` / ``X-Forwarded-Host`` never used to build a URL."""

from __future__ import annotations

from collections.abc import Iterator
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
    got = exchange(idgate.port, raw_get(idgate, "/forged", cookie, FORGED))
    assert status(got) == 200
    seen = upstream.seen[-1].headers
    values = " ".join(f"{k}={v}" for k, v in seen.items())
    assert "ceo" not in values and "admins" not in values, values
    assert not any("_" in k for k in seen), seen
    assert {k.lower(): v for k, v in seen.items()}["x-forwarded-email"] == EMAIL


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


@pytest.fixture(scope="module")
def strict_idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = run_idgate(tmp_path_factory.mktemp("strict"), upstream, adjust=distrust_loopback)
    yield running
    assert stop_idgate(running) == 0, running.output()


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

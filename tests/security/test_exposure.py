"""Exposure of the running product: no debug or metrics endpoints on the public listener, and the
proxy's ``/oauth/userinfo`` never returns tokens."""

from __future__ import annotations

import json

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import Running
from tests.security.flows import sign_in
from tests.security.rawhttp import exchange, status

pytestmark = pytest.mark.e2e

PROBES = [
    "/metrics",
    "/debug",
    "/debug/pprof/",
    "/debug/vars",
    "/_debug",
    "/server-status",
    "/.env",
    "/admin",
    "/oauth/metrics",
    "/oauth/debug",
    "/dex/metrics",
    "/dex/debug",
    "/dex/debug/pprof/",
    "/healthz/../metrics",
]


@pytest.mark.parametrize("service", ["kkp", "grafana", "unknown"])
def test_no_debug_or_metrics_endpoint_on_the_public_listener(idgate: Running, service: str) -> None:
    for path in PROBES:
        raw = f"GET {path} HTTP/1.1\r\nHost: {service}.localhost:{idgate.port}\r\nAccept: */*\r\n\r\n"
        got = exchange(idgate.port, raw.encode())
        code = status(got)
        body = got.partition(b"\r\n\r\n")[2]
        assert b"# TYPE" not in body and b"# HELP" not in body, (service, path)
        if service != "grafana":  # grafana's unknown paths go to the (recording) upstream once signed in
            assert code in (302, 400, 401, 404, 405), (service, path, code)


async def test_proxy_userinfo_never_returns_tokens(idgate: Running) -> None:
    async with Browser() as b:
        await sign_in(b, idgate)
        hops = await b.get(idgate.url("grafana", "/oauth/userinfo"))
    assert hops[-1].status == 200
    doc = json.loads(hops[-1].body)
    text = hops[-1].body.lower()
    for word in ("token", "eyj", "refresh", "secret"):
        assert word not in text, doc


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("kkp", "/dex/.well-known/openid-configuration"),  # the provider's aiohttp app
        ("kkp", "/dex/auth?client_id=nobody"),  # one of its error pages
        ("grafana", "/oauth/sign_in"),  # the sign-in app
        ("grafana", "/oauth/callback?state=x&code=y"),  # one of its error pages
        ("grafana", "/"),  # the edge's own redirect
        ("unknown", "/"),  # the edge's own 404
    ],
)
def test_no_answer_names_python_or_aiohttp(idgate: Running, service: str, path: str) -> None:
    """A ``Server`` header that names Python's and aiohttp's versions tells a scanner what to try."""
    raw = f"GET {path} HTTP/1.1\r\nHost: {service}.localhost:{idgate.port}\r\nAccept: text/html\r\n\r\n"
    head = exchange(idgate.port, raw.encode()).partition(b"\r\n\r\n")[0].lower()
    assert b"aiohttp" not in head and b"python" not in head, head
    servers = [line for line in head.split(b"\r\n") if line.startswith(b"server:")]
    assert servers in ([], [b"server: idgate"]), servers

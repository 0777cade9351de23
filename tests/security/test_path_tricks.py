"""Path tricks against ``skip_auth_regex`` and per-route rules, on the running product. The grafana
deployment of the KKP example skips authentication for ``/api/health``; each request below dresses up a
request for ``/admin`` as that path. Without a session none may reach the upstream: the edge decides on
the normalised path and refuses what it cannot normalise. The normaliser itself is unit-tested in
``tests/unit/policy`` and fuzzed in ``test_properties.py``."""

from __future__ import annotations

import pytest
from tests.e2e.harness import Running, Upstream
from tests.security.rawhttp import exchange, status

pytestmark = pytest.mark.e2e

TRICKS = [
    "/api/health/../admin",
    "/api/health/../../admin",
    "/api/health/%2e%2e/admin",
    "/api/health/%2E%2E/admin",
    "/api/health/.%2e/admin",
    "/api/health%2f..%2fadmin",
    "/api/health%2F..%2Fadmin",
    "/api/health%252f..%252fadmin",
    "/api/health/..;/admin",
    "/api/health;/../admin",
    "/admin;/api/health",
    "/admin;x=/api/health",
    "/admin%23/api/health",
    "/admin%3f/api/health",
    "/admin?/api/health",
    "/admin?x=/api/health",
    "/admin#/api/health",
    "//api/health/../admin",
    "/api//health/../../admin",
    "/API/HEALTH/../admin",
    "/admin%00/api/health",
    "/api/health%00/../admin",
    "/api/health/%c0%ae%c0%ae/admin",
    "/api/health/%c0%af../admin",
    "/api/health\\..\\admin",
    "/api/health/%5c..%5cadmin",
    "/./admin/./api/health/..",
    "http://grafana.localhost/api/health/../admin",
    "http://evil.example/api/health",
    "/api/health/%2e%2e%2fadmin",
]


def request(idgate: Running, target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: grafana.localhost:{idgate.port}\r\n\r\n".encode("latin-1")


@pytest.mark.parametrize("target", TRICKS)
def test_dressed_up_paths_do_not_skip_authentication(
    idgate: Running, upstream: Upstream, target: str
) -> None:
    upstream.clear()
    got = exchange(idgate.port, request(idgate, target), wait_close=False, timeout=3)
    forwarded = [s.target for s in upstream.seen]
    for seen in forwarded:
        # what the upstream received is the health path itself, nothing that resolves elsewhere
        assert "admin" not in seen.lower(), (target, status(got), forwarded)
    if status(got) == 200:
        assert forwarded, target


def test_the_real_health_path_still_skips(idgate: Running, upstream: Upstream) -> None:
    upstream.clear()
    assert status(exchange(idgate.port, request(idgate, "/api/health"))) == 200
    assert [s.target for s in upstream.seen] == ["/api/health"]

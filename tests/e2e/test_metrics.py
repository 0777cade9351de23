"""Prometheus metrics, end to end: idgate as a subprocess with ``idgate.metrics_listen`` on a free port;
logins, refusals, plain requests and a session refresh move the counters that a scrape of ``/metrics``
shows, and the public listener never serves them. Alertmanager keeps its sessions in the real Redis
(127.0.0.1:6379, database 14, sessions of ten minutes) and refreshes them after a second."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.e2e.browser import Browser
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    Upstream,
    flushed,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
    wait_listening,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def observed(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, int]]:
    """idgate with its metrics on a port of their own and JSON logs."""
    tmp = tmp_path_factory.mktemp("metrics")
    port, metrics_port = free_port(), free_port()
    values = local_values(port, upstream.port, tmp / "data")
    values["idgate"]["metrics_listen"] = f"127.0.0.1:{metrics_port}"
    values["iap"]["deployments"]["alertmanager"]["config"] = {
        "scope": "openid email groups offline_access",  # a refresh token, to refresh with
        "email_domains": ["*"],
        "cookie_refresh": "1s",
        "cookie_expire": "10m",
        "session_store_type": "redis",
        "redis_connection_url": "redis://127.0.0.1:6379/14",
    }
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    running = start_idgate(
        ["serve", "--config", str(config), "--log-format", "json"], port, tmp / "idgate.log"
    )
    wait_listening(metrics_port, running.process, running.log)  # it opens just after the public port
    yield running, metrics_port
    assert stop_idgate(running) == 0, running.output()


def get(port: int, path: str, host: str | None = None) -> tuple[int, str]:
    """One GET to 127.0.0.1:``port`` with ``Host: host`` (no proxy from the environment)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, text = get(port, "/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def login(b: Browser, running: Running, service: str, path: str, password: str) -> int:
    hops = await b.get(running.url(service, path))
    page = hops[-1]
    assert page.status == 200 and "/dex/" in page.url
    done = await b.submit(page, {"login": EMAIL, "password": password})
    return done[-1].status


async def test_logins_decisions_and_requests_move_the_counters(observed: tuple[Running, int]) -> None:
    running, metrics_port = observed
    before = scrape(metrics_port)
    async with Browser() as b:
        assert await login(b, running, "grafana", "/d/x", "wrong password") == 200  # the form again
    async with Browser() as b:
        assert await login(b, running, "grafana", "/d/x", PASSWORD) == 200
        assert (await b.get(running.url("grafana", "/api/x")))[-1].status == 200
    async with Browser() as b:  # prometheus wants GitHub org mygithuborg: a local user is refused
        assert await login(b, running, "prometheus", "/graph", PASSWORD) == 403
    async with Browser() as b:
        assert (await b.get(f"http://nowhere.localhost:{running.port}/"))[-1].status == 404
    after = scrape(metrics_port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("idgate_logins_total", connector="local", result="success") == 2
    assert moved("idgate_logins_total", connector="local", result="failure") == 1
    assert moved("idgate_requests_total", role="proxy", deployment="grafana", status="200") >= 2
    assert moved("idgate_requests_total", role="proxy", deployment="prometheus", status="403") == 1
    assert moved("idgate_requests_total", role="provider", deployment="", status="200") >= 2
    assert moved("idgate_requests_total", role="none", deployment="", status="404") == 1
    assert (
        moved("idgate_decisions_total", deployment="grafana", decision="deny", reason="unauthenticated") == 2
    )
    assert (
        moved("idgate_decisions_total", deployment="grafana", decision="allow", reason="authenticated") == 2
    )
    refused = {"deployment": "prometheus", "decision": "deny", "reason": "github_org_not_allowed"}
    assert moved("idgate_decisions_total", **refused) == 1
    assert moved("idgate_request_duration_seconds_count", role="proxy", deployment="grafana") >= 2
    # grafana's sessions are cookies: sealed at each sign-in, opened when the edge first sees one
    assert moved("idgate_session_store_duration_seconds_count", store="cookie", operation="save") >= 2
    assert moved("idgate_session_store_duration_seconds_count", store="cookie", operation="load") >= 2
    assert moved("idgate_storage_duration_seconds_count", operation="create") >= 2  # the provider's


async def test_a_proxy_refresh_counts_at_both_ends_and_times_each_redis_round_trip(
    observed: tuple[Running, int],
) -> None:
    running, metrics_port = observed
    before = scrape(metrics_port)
    async with Browser() as b:
        assert await login(b, running, "alertmanager", "/#/alerts", PASSWORD) == 200
        await asyncio.sleep(1.2)  # cookie_refresh: 1s
        assert (await b.get(running.url("alertmanager", "/api/v2/alerts")))[-1].status == 200
    after = scrape(metrics_port)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("idgate_refreshes_total", role="proxy", result="success") == 1
    assert moved("idgate_refreshes_total", role="provider", result="success") == 1  # the grant it made
    assert moved("idgate_refresh_duration_seconds_count", result="success") == 1
    assert 0 < moved("idgate_refresh_duration_seconds_sum", result="success") < 5
    for operation in ("save", "load", "lock", "unlock"):  # sign-in saves; the refresh locks, saves, unlocks
        assert moved("idgate_session_store_duration_seconds_count", store="redis", operation=operation) >= 1
    assert moved("idgate_session_store_duration_seconds_count", store="redis", operation="save") == 2
    refreshed = [
        json.loads(line)
        for line in running.output().splitlines()
        if line.startswith("{") and '"event":"refresh"' in line and '"logger":"idgate.sessions"' in line
    ]
    assert (
        refreshed and refreshed[-1]["deployment"] == "alertmanager" and refreshed[-1]["result"] == "success"
    )


async def test_json_logs_carry_the_access_fields(observed: tuple[Running, int]) -> None:
    running, _ = observed
    async with Browser() as b:
        await b.get(running.url("grafana", "/oauth/healthy"))
    log = flushed(running)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [r for r in lines if r["logger"] == "idgate.access"]
    healthy = [r for r in access if r["path"] == "/oauth/healthy"]
    assert healthy, log[-2000:]
    assert {
        *("time", "level", "logger", "message", "client_ip", "method", "host", "path", "status"),
        *("duration_ms", "deployment", "user", "decision", "reason", "request_id"),
    } == healthy[-1].keys()
    assert healthy[-1]["deployment"] == "grafana" and healthy[-1]["status"] == 200
    assert not [line for line in log.splitlines() if line.strip() and not line.startswith("{")]


def test_metrics_are_not_on_the_public_listener(observed: tuple[Running, int]) -> None:
    running, metrics_port = observed
    for host in ("grafana", "kkp", "nowhere"):
        _, body = get(running.port, "/metrics", f"{host}.localhost:{running.port}")
        assert "idgate_requests_total" not in body
    assert "idgate_requests_total" in get(metrics_port, "/metrics")[1]


def test_probes_share_the_metrics_port(observed: tuple[Running, int]) -> None:
    _, metrics_port = observed
    for path in ("/healthz/live", "/healthz/ready"):
        assert get(metrics_port, path)[0] == 200


def test_default_metrics_port_in_use_is_a_warning(upstream: Upstream, tmp_path: Path) -> None:
    """A taken default port must not stop idgate (two on one machine, a test run beside `make run`)."""
    import socket

    port = free_port()
    values = local_values(port, upstream.port, tmp_path / "data")
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            blocker.bind(("127.0.0.1", 9180))
            blocker.listen(1)
            held = True
        except OSError:
            held = False  # someone else holds it already: the same situation
        running = start_idgate(["serve", "--config", str(config)], port, tmp_path / "idgate.log")
        try:
            assert get(port, "/oauth/healthy", f"grafana.localhost:{port}")[0] == 200
        finally:
            assert stop_idgate(running) == 0, running.output()
    if held:
        assert "metrics not served: cannot listen on 127.0.0.1:9180" in running.output()


def test_workers_answer_a_scrape_for_all_of_them(upstream: Upstream, tmp_path: Path) -> None:
    """With --workers 2 (multiprocess mode), every scrape counts the requests of both workers."""
    port, metrics_port = free_port(), free_port()
    values = local_values(port, upstream.port, tmp_path / "data")
    values["idgate"]["metrics_listen"] = f"127.0.0.1:{metrics_port}"
    config = tmp_path / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    running = start_idgate(
        ["serve", "--config", str(config), "--workers", "2"], port, tmp_path / "idgate.log"
    )
    try:
        wait_listening(metrics_port, running.process, running.log)
        for _ in range(40):  # new connections: SO_REUSEPORT spreads them over the workers
            assert get(port, "/oauth/healthy", f"grafana.localhost:{port}")[0] == 200
        key = {"role": "proxy", "deployment": "grafana", "status": "200"}
        # each worker adds its counts to the shared files every second
        deadline = time.monotonic() + 5
        while value(scrape(metrics_port), "idgate_requests_total", **key) != 40.0:
            assert time.monotonic() < deadline, "the workers' counts never added up to 40"
            time.sleep(0.2)
        counts = {value(scrape(metrics_port), "idgate_requests_total", **key) for _ in range(10)}
        assert counts == {40.0}
        # the durations' plain counters reach the shared files the same way (a worker read its keys)
        assert value(scrape(metrics_port), "idgate_storage_duration_seconds_count", operation="get") >= 1
    finally:
        assert stop_idgate(running) == 0, running.output()

"""``idgate serve --role provider|proxy [--deployment NAME]``: each process serves its part only, and the
health port answers probes (``/healthz/live``, ``/healthz/ready`` with the role's dependencies)."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from tests.e2e.harness import Running, Upstream, free_port, local_values, stop_idgate, wait_listening
from tests.integration.replicas.harness import dump_values, start_replica

pytestmark = pytest.mark.e2e


def status(port: int, host: str, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def health_up(running: Running, port: int) -> None:
    """The health port opens once the worker has started everything (the main port is bound earlier)."""
    wait_listening(port, running.process, running.log)


def values_file(tmp: Path, upstream: Upstream, **idgate: str) -> Path:
    values = local_values(free_port(), upstream.port, tmp / "data")
    values["idgate"].update(idgate)
    return dump_values(values, tmp / "values.yaml")


def test_proxy_role_with_a_deployment_serves_only_that_host(tmp_path: Path, upstream: Upstream) -> None:
    health = free_port()
    config = values_file(tmp_path, upstream, health_listen=f"127.0.0.1:{health}")
    running = start_replica(config, "proxy", tmp_path / "proxy.log", deployment="grafana")
    health_up(running, health)
    try:
        port = running.port
        assert status(port, "grafana.localhost", "/oauth/healthy")[0] == 200
        assert status(port, "grafana.localhost", "/")[0] in (302, 401)  # protected: sign in first
        assert status(port, "prometheus.localhost", "/oauth/healthy")[0] == 404
        assert status(port, "alertmanager.localhost", "/")[0] == 404
        assert status(port, "kkp.localhost", "/dex/healthz")[0] == 404
        assert status(health, "anything", "/healthz/live") == (200, "ok\n")
        assert status(health, "anything", "/healthz/ready") == (
            200,
            "ok\n",
        )  # cookie sessions: nothing to check
        assert "python_gc_objects_collected_total" in status(health, "x", "/metrics")[1]
    finally:
        assert stop_idgate(running) == 0, running.output()


def test_provider_role_serves_only_the_provider(tmp_path: Path, upstream: Upstream) -> None:
    health = free_port()
    config = values_file(tmp_path, upstream, health_listen=f"127.0.0.1:{health}")
    running = start_replica(config, "provider", tmp_path / "provider.log")
    health_up(running, health)
    try:
        port = running.port
        assert status(port, "kkp.localhost", "/dex/healthz")[0] == 200
        assert status(port, "kkp.localhost", "/dex/.well-known/openid-configuration")[0] == 200
        for service in ("grafana", "prometheus", "alertmanager"):
            assert status(port, f"{service}.localhost", "/oauth/healthy")[0] == 404
        assert status(health, "x", "/healthz/ready") == (200, "ok\n")  # storage answers
    finally:
        assert stop_idgate(running) == 0, running.output()


def test_proxy_role_is_ready_only_when_redis_answers(tmp_path: Path, upstream: Upstream) -> None:
    health = free_port()
    config = values_file(
        tmp_path, upstream, health_listen=f"127.0.0.1:{health}", sessions="redis://127.0.0.1:6379/15"
    )
    running = start_replica(config, "proxy", tmp_path / "proxy.log", deployment="prometheus")
    health_up(running, health)
    try:
        assert status(health, "x", "/healthz/ready") == (200, "ok\n")
        assert status(running.port, "prometheus.localhost", "/oauth/healthy")[0] == 200
    finally:
        assert stop_idgate(running) == 0, running.output()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "proxy", "--deployment", "kibana"], "no iap deployment named 'kibana'"),
        (["--role", "provider", "--deployment", "grafana"], "does not go with --role provider"),
    ],
)
def test_a_role_that_cannot_run_exits_2(
    tmp_path: Path, upstream: Upstream, args: list[str], message: str
) -> None:
    import subprocess
    import sys

    config = values_file(tmp_path, upstream)
    result = subprocess.run(
        [sys.executable, "-m", "idgate", "serve", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr

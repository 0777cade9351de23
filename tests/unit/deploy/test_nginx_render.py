"""``render_nginx``: the auth_request integration, accepted by Debian's nginx (``nginx -t``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.unit.deploy.support import INPUTS, check_golden, load

from idgate.config import load_config
from idgate.deploy.nginx import NginxOptions, render_nginx

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_test(conf: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    assert Path(NGINX).exists(), "nginx is not installed: run scripts/system-deps (Debian package nginx)"
    path = tmp / "nginx.conf"
    path.write_text(conf)
    return subprocess.run(
        [NGINX, "-t", "-c", str(path), "-p", str(tmp), "-e", str(tmp / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_fragment_matches_the_golden_file() -> None:
    check_golden("kkp-example.nginx.conf", render_nginx(load("kkp-example")))


def test_each_deployment_asks_idgate_and_passes_the_identity() -> None:
    conf = render_nginx(load("kkp-example"))
    assert conf.count("auth_request /oauth/auth;") == 3
    assert "auth_request_set $user $upstream_http_x_auth_request_user;" in conf
    assert "auth_request_set $email $upstream_http_x_auth_request_email;" in conf
    assert "error_page 401 = /oauth/start?rd=$request_uri;" in conf
    assert conf.count("location /oauth/ {") == 3
    assert "server_name grafana.kkp.example.com;" in conf
    assert "proxy_pass http://grafana.monitoring.svc.cluster.local:3000;" in conf
    assert 'location ~ "/api/health" {' in conf  # skip_auth_regex: no subrequest
    assert "server 127.0.0.1:4180;" in conf


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_nginx_accepts_the_standalone_config(name: str, tmp_path: Path) -> None:
    # Upstream names such as prometheus.monitoring.svc.cluster.local do not resolve here: with a
    # resolver, nginx resolves them per request instead of at start, so `nginx -t` checks the syntax.
    conf = render_nginx(load(name), NginxOptions(resolver="127.0.0.1", standalone=str(tmp_path)))
    result = nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr


def test_nginx_accepts_static_upstreams_that_resolve(tmp_path: Path) -> None:
    path, sets = INPUTS["kkp-example"]
    sets = (*sets, *(f"iap.deployments.{d}.upstream_service=127.0.0.1" for d in ("prometheus", "grafana")))
    sets = (*sets, "iap.deployments.alertmanager.upstream_service=localhost", "idgate.listen=0.0.0.0:4180")
    conf = render_nginx(
        load_config(path, sets=sets, env={}), NginxOptions(listen="127.0.0.1:8080", standalone=str(tmp_path))
    )
    assert "proxy_pass http://127.0.0.1:9090;" in conf and "resolver" not in conf
    result = nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr


def test_a_regex_with_quotes_and_backslashes_is_quoted_for_nginx(tmp_path: Path) -> None:
    path, sets = INPUTS["minimal"]
    sets = (*sets, 'iap.deployments.app.config.skip_auth_regex=["^/a\\\\d+\\"x$"]')
    conf = render_nginx(
        load_config(path, sets=sets, env={}), NginxOptions(resolver="127.0.0.1", standalone=str(tmp_path))
    )
    assert 'location ~ "^/a\\\\d+\\"x$" {' in conf
    assert nginx_test(conf, tmp_path).returncode == 0

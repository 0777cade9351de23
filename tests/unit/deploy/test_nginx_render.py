"""``render_nginx``: the auth_request integration, accepted by Debian's nginx (``nginx -t``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.unit.deploy.support import INPUTS, check_golden, load

from idgate.config import load_config
from idgate.deploy.nginx import NginxOptions, render_nginx
from idgate.sessions.sealing import MAX_CHUNKS

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
    assert "auth_request_set $idgate_user $upstream_http_x_auth_request_user;" in conf
    assert "auth_request_set $idgate_email $upstream_http_x_auth_request_email;" in conf
    assert "proxy_set_header X-Forwarded-Email $idgate_email;" in conf
    # no session: /oauth/start, told the page (with its whole query) in a header, not in an unencoded ?rd=
    assert conf.count("error_page 401 = /oauth/nginx-sign-in;") == 3
    sign_in = conf.split("location = /oauth/nginx-sign-in {", 1)[1].split("}", 1)[0]
    assert "internal;" in sign_in and "rewrite ^ /oauth/start? break;" in sign_in
    assert "proxy_set_header X-Forwarded-Uri $request_uri;" in sign_in
    assert "rd=$request_uri" not in conf
    assert conf.count("location /oauth/ {") == 3
    assert "server_name grafana.kkp.example.com;" in conf
    # each upstream a keep-alive pool, resolved at start
    assert "upstream deployment_grafana {\n    server grafana.monitoring.svc.cluster.local:3000;" in conf
    assert "proxy_pass http://deployment_grafana;" in conf
    assert 'location ~ "/api/health" {' in conf  # skip_auth_regex: no subrequest
    assert "server 127.0.0.1:4180;" in conf


def _block(conf: str, start: str) -> str:
    """The text of the first block that opens with ``start`` (up to its closing brace)."""
    begin = conf.index(start)
    return conf[begin : conf.index("\n    }", begin)]


def test_a_refreshed_session_is_copied_to_the_browser_one_cookie_at_a_time() -> None:
    conf = render_nginx(load("kkp-example"))
    protected = _block(conf, "    location / {\n        auth_request")
    for i in range(MAX_CHUNKS):  # a long session is several cookies; each has its numbered copy
        assert f"auth_request_set $idgate_cookie_{i} $upstream_http_x_idgate_set_cookie_{i};" in protected
        assert f"add_header Set-Cookie $idgate_cookie_{i} always;" in protected
    assert "$upstream_http_set_cookie" not in conf  # one of several, or all joined: never a whole cookie


def test_skipped_paths_and_protected_ones_never_pass_a_client_identity_header() -> None:
    conf = render_nginx(load("kkp-example"))
    skipped = _block(conf, '    location ~ "/api/health" {')
    protected = _block(conf, "    location / {\n        auth_request")
    for name in ("X-Forwarded-Email", "X-Forwarded-User", "X-Auth-Request-Groups", "X-Idgate-Assertion"):
        assert f'proxy_set_header {name} "";' in skipped
    assert 'proxy_set_header X-Idgate-Assertion "";' in protected
    assert 'proxy_set_header X-Forwarded-Access-Token "";' in protected


def test_auth_answers_are_cached_five_seconds_by_default() -> None:
    conf = render_nginx(load("kkp-example"))
    assert (
        "proxy_cache_path /var/cache/nginx/idgate levels=1:2 keys_zone=idgate_auth:10m max_size=100m "
        "inactive=1m use_temp_path=off;"
    ) in conf
    auth = _block(conf, "    location = /oauth/auth {")
    assert "proxy_cache idgate_auth;" in auth
    assert 'proxy_cache_key "$http_host $http_authorization $http_cookie";' in auth
    assert "proxy_cache_bypass $idgate_anonymous;" in auth and "proxy_no_cache $idgate_anonymous;" in auth
    # only 202s, never 401/403; and an answer with Set-Cookie (a refresh) is never stored
    assert re.findall(r"proxy_cache_valid .*;", conf) == ["proxy_cache_valid 202 5s;"] * 3
    ignored = re.findall(r"proxy_ignore_headers (.*);", conf)
    assert ignored == ["Cache-Control Expires X-Accel-Expires"] * 3
    assert 'map "$http_cookie$http_authorization" $idgate_anonymous { "" 1; default 0; }' in conf


def test_the_cache_can_be_moved_shortened_or_turned_off(tmp_path: Path) -> None:
    conf = render_nginx(load("minimal"), NginxOptions(cache_seconds=2, cache_dir="/srv/cache"))
    assert "proxy_cache_path /srv/cache " in conf and "proxy_cache_valid 202 2s;" in conf
    standalone = render_nginx(load("minimal"), NginxOptions(standalone=str(tmp_path)))
    assert f"proxy_cache_path {tmp_path}/auth-cache " in standalone
    off = render_nginx(load("minimal"), NginxOptions(cache_seconds=0))
    assert "proxy_cache" not in off and "$idgate_anonymous" not in off
    assert "auth_request /oauth/auth;" in off


def test_answers_that_carry_tokens_are_not_cached() -> None:
    path, sets = INPUTS["kkp-example"]
    sets = (*sets, "iap.deployments.grafana.config.set_authorization_header=true")
    conf = render_nginx(load_config(path, sets=sets, env={}))
    grafana = conf[conf.index("# iap deployment grafana") : conf.index("# iap deployment prometheus")]
    assert "proxy_cache " not in grafana and "not cached: this deployment's answers carry tokens" in grafana
    assert conf.count("proxy_cache idgate_auth;") == 2


def test_with_route_rules_the_cache_is_keyed_on_the_request_too() -> None:
    """idgate decides about ``X-Forwarded-Method``/``-Uri`` when a deployment has route rules or skip
    routes: one cached 202 must not answer for another path."""
    path, sets = INPUTS["kkp-example"]
    sets = (*sets, 'iap.deployments.grafana.config.skip_auth_routes=["GET=^/public/"]')
    conf = render_nginx(load_config(path, sets=sets, env={}))
    grafana = conf[conf.index("# iap deployment grafana") : conf.index("# iap deployment prometheus")]
    key = 'proxy_cache_key "$request_method $request_uri $http_host $http_authorization $http_cookie";'
    assert key in grafana
    assert "proxy_set_header X-Forwarded-Method $request_method;" in grafana
    assert conf.count('proxy_cache_key "$http_host $http_authorization $http_cookie";') == 2


def test_default_configuration_applies_to_the_render() -> None:
    path, sets = INPUTS["minimal"]
    sets = (*sets, 'iap.default_configuration.skip_auth_regex=["^/ping$"]')
    conf = render_nginx(load_config(path, sets=sets, env={}))
    assert 'location ~ "^/ping$" {' in conf


def test_standalone_without_access_log(tmp_path: Path) -> None:
    conf = render_nginx(load("minimal"), NginxOptions(standalone=str(tmp_path), access_log=False))
    assert "    access_log off;\n" in conf and "access.log" not in conf


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
    assert "server 127.0.0.1:9090;" in conf and "resolver" not in conf
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

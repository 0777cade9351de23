"""Issue 20: ``idgate render nginx`` says what to do when its output could not work as written: nginx
listening where idgate does (a file from ``idgate init --local``), hosts whose port is not nginx's, and
Kubernetes Service names without ``--resolver`` (the KKP file). Checked with Debian's nginx (``nginx -t``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.unit.deploy.support import KKP_EXAMPLE

from idgate.cli import main

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


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


@pytest.fixture
def local_file(tmp_path: Path) -> Path:
    """What a new operator has: ``idgate init --local`` for Grafana on this machine (port 4180)."""
    out = tmp_path / "values.yaml"
    code, _, err = run("init", "--local", "--service", "grafana=127.0.0.1:3000", "--out", str(out))
    assert code == 0, err
    return out


def test_nginx_on_idgates_own_port_is_refused_with_what_to_do(local_file: Path, tmp_path: Path) -> None:
    code, out, err = run("render", "nginx", "--config", str(local_file), "--listen", "4180")
    assert code == 2 and out == ""
    assert (
        "error: idgate.listen: nginx would listen on 4180, where idgate itself listens (127.0.0.1:4180)"
        in err
    )
    assert "--listen 127.0.0.1:4181" in err and "--idgate 127.0.0.1:4181" in err
    # the same with an explicit --idgate that collides, and with a wildcard listen
    code, _, err = run(
        "render", "nginx", "--config", str(local_file), "--listen", "[::]:8080", "--idgate", "localhost:8080"
    )
    assert code == 2 and "error: --idgate: nginx would listen on [::]:8080" in err


def test_doing_what_the_message_says_gives_a_config_nginx_accepts(local_file: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "nginx"
    code, out, err = run(
        "render", "nginx", "--config", str(local_file), "--listen", "127.0.0.1:4180",
        "--idgate", "127.0.0.1:4181", "--standalone", str(run_dir),
    )  # fmt: skip
    assert code == 0, err
    assert "warning" not in err, err
    assert "server 127.0.0.1:4181;" in out and "listen 127.0.0.1:4180;" in out
    run_dir.mkdir()
    result = nginx_test(out, run_dir)
    assert result.returncode == 0, result.stderr


def test_hosts_on_another_port_than_nginx_are_a_warning(local_file: Path) -> None:
    code, out, err = run("render", "nginx", "--config", str(local_file))  # nginx on 80, hosts on 4180
    assert code == 0 and "server_name grafana.localhost;" in out
    assert (
        "warning: dex.ingress.host: localhost:4180 names port 4180 (and 1 more host), but nginx listens on 80"
        in err
    )
    assert "Render with --listen 4180" in err


def test_cluster_names_without_a_resolver_are_a_warning_that_names_the_flag(tmp_path: Path) -> None:
    code, out, err = run("render", "nginx", "--config", str(KKP_EXAMPLE), "--standalone", str(tmp_path))
    assert code == 0
    for key, name in (
        ("prometheus", "prometheus.monitoring.svc.cluster.local"),
        ("grafana", "grafana.monitoring.svc.cluster.local"),
    ):
        assert f"warning: iap.deployments.{key}.upstream_service: {name} is a Kubernetes Service name" in err
    assert "Give --resolver" in err
    # what the warning says is so: this nginx cannot start with that file ...
    failed = nginx_test(out, tmp_path)
    assert failed.returncode != 0 and "host not found in upstream" in failed.stderr, failed.stderr
    # ... and with the flag it names, it can, and nothing is left to warn about
    code, out, err = run(
        "render",
        "nginx",
        "--config",
        str(KKP_EXAMPLE),
        "--standalone",
        str(tmp_path),
        "--resolver",
        "127.0.0.1",
    )
    assert code == 0 and "Kubernetes Service name" not in err
    assert nginx_test(out, tmp_path).returncode == 0

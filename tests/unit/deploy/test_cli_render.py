"""``idgate render kubernetes|nginx`` through click: output, files, exit status, messages."""

from __future__ import annotations

import stat
from pathlib import Path

from click.testing import CliRunner
from tests.unit.deploy.support import FIXTURES, KKP_EXAMPLE, KKP_STORAGE, documents

from idgate.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_render_kubernetes_prints_multi_document_yaml() -> None:
    code, out, err = run("render", "kubernetes", "--config", str(KKP_EXAMPLE), "--set", KKP_STORAGE)
    assert code == 0, err
    docs = documents(out)
    assert len(docs) == 7 + 3 * 6  # without --certificates: 7 provider objects, 6 per deployment
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Ingress", "Secret", "ConfigMap"}


def test_options_namespaces_image_certificates() -> None:
    code, out, _ = run(
        "render", "kubernetes", "--config", str(KKP_EXAMPLE), "--set", KKP_STORAGE,
        "--namespace-provider", "sso", "--namespace-proxy", "gate",
        "--image", "example/idgate:dev", "--certificates",
    )  # fmt: skip
    assert code == 0
    docs = documents(out)
    assert {d["metadata"]["namespace"] for d in docs} == {"sso", "gate"}
    assert sum(d["kind"] == "Certificate" for d in docs) == 4
    images = {
        d["spec"]["template"]["spec"]["containers"][0]["image"] for d in docs if d["kind"] == "Deployment"
    }
    assert images == {"example/idgate:dev"}


def test_out_writes_one_file_per_object_with_private_secrets(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    code, stdout, err = run(
        "render", "kubernetes", "--config", str(FIXTURES / "minimal.yaml"), "--out", str(out)
    )
    assert code == 0 and stdout == ""
    assert "kubectl apply -R -f" in err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert "oauth/deployment-dex.yaml" in files and "iap/ingress-app-iap.yaml" in files
    assert stat.S_IMODE((out / "iap" / "secret-iap-app-secret.yaml").stat().st_mode) == 0o600


def test_sqlite_refusal_exits_2_with_the_path() -> None:
    code, out, err = run("render", "kubernetes", "--config", str(KKP_EXAMPLE))
    assert code == 2 and out == ""
    assert "idgate.storage: SQLite cannot back dex.replicas: 2" in err


def test_unused_chart_keys_are_warnings(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text((FIXTURES / "minimal.yaml").read_text() + "  extraArgs: [--skip-jwt-bearer-tokens]\n")
    code, _, err = run("render", "kubernetes", "--config", str(values))
    assert code == 0
    assert "iap.extraArgs" in err and "not passed to idgate" in err


def test_render_nginx_standalone(tmp_path: Path) -> None:
    code, out, _ = run(
        "render",
        "nginx",
        "--config",
        str(KKP_EXAMPLE),
        "--standalone",
        str(tmp_path),
        "--resolver",
        "10.0.0.10",
    )
    assert code == 0
    assert f"pid {tmp_path}/nginx.pid;" in out and "resolver 10.0.0.10 valid=30s;" in out
    assert out.count("server_name ") == 4


def test_render_nginx_cache_options(tmp_path: Path) -> None:
    code, out, _ = run(
        "render", "nginx", "--config", str(KKP_EXAMPLE), "--cache-seconds", "3", "--cache-dir", str(tmp_path)
    )
    assert code == 0
    assert f"proxy_cache_path {tmp_path} " in out and out.count("proxy_cache_valid 202 3s;") == 3
    code, out, _ = run("render", "nginx", "--config", str(KKP_EXAMPLE), "--cache-seconds", "0")
    assert code == 0 and "proxy_cache" not in out
    code, _, err = run("render", "nginx", "--config", str(KKP_EXAMPLE), "--cache-seconds", "-1")
    assert code == 2 and "--cache-seconds" in err


def test_render_needs_a_valid_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("iap:\n  deployments:\n    x: {name: x}\n")
    code, _, err = run("render", "nginx", "--config", str(bad))
    assert code == 2 and "iap.deployments.x.client_id" in err

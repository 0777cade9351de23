"""The image's idgate, run from the unpacked archive as a pod runs it: read-only root file system, uid and
gid 65532, no capabilities, no new privileges, writable only /tmp and /var/lib/idgate (tmpfs, like the
rendered emptyDirs), the values file mounted read-only."""

from __future__ import annotations

import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.build_plan import COMPILED_MODULES, SHARED_LIBRARY
from tests.e2e.harness import free_port
from tests.image.rootfs import command, spawn, stop

STATE = "/var/lib/idgate"
VALUES = """\
dex:
  replicas: 1
  ingress: {host: sso.example.org, path: /dex}
  staticPasswords:
    - email: admin@example.org
      hash: "$2b$10$MiGqgcHZtzw8Z4jR5lqi8e3/GU4vl8v.Lt3VYQ8xBeG1HpEKR0bOW"
      userID: "1"
  clients:
    - {id: app, secret: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, redirectURIs: [https://app.example.org/oauth/callback]}
iap:
  oidc_issuer_url: https://sso.example.org/dex
  deployments:
    app:
      name: app
      client_id: app
      client_secret: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
      encryption_key: bbbbbbbbbbbbbbbb
      upstream_service: app.default.svc.cluster.local
      upstream_port: 8080
      ingress: {host: app.example.org}
      config: {email_domains: ["*"]}
"""


def run(rootfs: Path, *argv: str, binds: dict[str, Path] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(rootfs, argv, cwd=STATE, tmpfs=("/tmp", STATE), binds=binds),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_idgate_version_runs_as_65532_on_a_read_only_root(rootfs: Path) -> None:
    done = run(rootfs, "idgate", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "idgate, version 0.1.0"
    probe = (
        "import os; print(os.getuid(), os.getgid(), os.getgroups(), os.getcwd());"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "try:\n open('/opt/idgate/x', 'w')\nexcept OSError as e: print(e.strerror)"
    )
    seen = run(rootfs, "python3", "-c", probe)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.splitlines() == [
        "65532 65532 [] /var/lib/idgate",
        "0000000000000000",
        "Read-only file system",
    ]


def test_idgate_check_reads_a_mounted_values_file(rootfs: Path, tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir(), bad.mkdir()
    (good / "values.yaml").write_text(VALUES)
    (bad / "values.yaml").write_text(VALUES.replace("upstream_port: 8080", "upstream_port: eighty"))
    done = run(rootfs, "idgate", "check", "/etc/idgate/values.yaml", binds={"/etc/idgate": good})
    assert done.returncode == 0, done.stderr
    assert "no problems found" in done.stdout
    refused = run(rootfs, "idgate", "check", "/etc/idgate/values.yaml", binds={"/etc/idgate": bad})
    assert refused.returncode != 0
    assert "iap.deployments.app.upstream_port" in refused.stdout + refused.stderr


def test_the_demo_serves_with_only_tmp_and_var_lib_idgate_writable(rootfs: Path) -> None:
    """`serve` creates its SQLite schema and keys in /var/lib/idgate, its sockets in /tmp, nothing else."""
    port = free_port()
    argv = command(
        rootfs, ["idgate", "serve", "--listen", f"127.0.0.1:{port}"], cwd=STATE, tmpfs=("/tmp", STATE)
    )
    with tempfile.TemporaryFile("w+") as log:
        server = spawn(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            status = wait_for(f"http://127.0.0.1:{port}/", host=f"demo.localhost:{port}", server=server)
            assert status == 302  # the demo upstream sends a stranger to sign in
        finally:
            stop(server)
        log.seek(0)
        out = log.read()
    assert "Read-only file system" not in out, out
    assert server.returncode == 0, out  # SIGTERM: a clean stop


def wait_for(url: str, *, host: str, server: subprocess.Popen[str], seconds: float = 60) -> int:
    request = urllib.request.Request(url, headers={"Host": host})
    opener = urllib.request.build_opener(NoRedirect)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"idgate exited with {server.returncode}")
        try:
            with opener.open(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as answer:
            return int(answer.code)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds} s")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_every_module_is_compiled_for_a_read_only_root(rootfs: Path) -> None:
    """Each .py has an unchecked-hash .pyc beside it: nothing is compiled at start-up, no file times read."""
    missing, stale = [], []
    for top in (rootfs / "opt/idgate/lib/python3.11/site-packages", rootfs / "usr/lib/python3.11"):
        for source in top.rglob("*.py"):
            if "lib2to3" in source.parts or source.name.startswith("._"):
                continue
            pyc = source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc"
            if not pyc.is_file():
                missing.append(source)
            elif int.from_bytes(pyc.read_bytes()[4:8], "little") != 0b01:  # hash-based, not checked
                stale.append(pyc)
    assert not missing, missing[:5]
    assert not stale, stale[:5]


def test_the_request_path_runs_compiled_by_the_images_python(rootfs: Path) -> None:
    """The wheel's mypyc extension modules (built by the host's 3.11) load in Debian's 3.11: one cp311 ABI."""
    probe = (
        "import importlib, sys\n"
        f"for name in {COMPILED_MODULES!r}: print(importlib.import_module(name).__file__)\n"
        f"print(sys.modules[{SHARED_LIBRARY!r}].__file__)"
    )
    seen = run(rootfs, "python3", "-c", probe)
    assert seen.returncode == 0, seen.stderr
    files = seen.stdout.split()
    assert len(files) == len(COMPILED_MODULES) + 1
    site = "/opt/idgate/lib/python3.11/site-packages/"
    for found in files:
        assert found.startswith(site) and found.endswith(".cpython-311-x86_64-linux-gnu.so"), found
    assert files[-1] == f"{site}{SHARED_LIBRARY}.cpython-311-x86_64-linux-gnu.so"


def test_tls_and_time_zones_work_inside(rootfs: Path) -> None:
    probe = (
        "import ssl, zoneinfo; ctx = ssl.create_default_context();"
        "print(len(ctx.get_ca_certs()) > 100, zoneinfo.ZoneInfo('Europe/Berlin').key)"
    )
    done = run(rootfs, "python3", "-c", probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "Europe/Berlin"]

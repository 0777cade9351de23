"""Idle RSS per idgate process (issue 21): each role after start-up and one sign-in, then under load.

``PYTHONPATH=src python -m bench.idle_rss [--load 60] [--postgres] [--idgate-src DIR]``, by hand (not in
``make bench``).

Three processes (four with ``--postgres``), one at a time, each on its own free loopback port, the
upstream an nginx serving 1 KiB:

- **all roles, 1 worker, SQLite**: ``idgate serve --config values.yaml --workers 1`` with the values file
  ``make bench`` runs (provider + deployment ``app``, SQLite storage), as ``idgate-1w`` there;
- **provider** and **proxy** (cookie sessions): ``--role provider`` / ``--role proxy --deployment app``
  with the pod's own values document and Secret, as ``bench.pod_sizes`` runs them (SQLite); with
  ``--postgres`` the provider on PostgreSQL too (a database of its own on 127.0.0.1:5432, dropped after).

Each is measured 2 s after its port opens and one sign-in (all roles: through its proxy; provider: one
password login at ``/auth``; proxy: through the proxy, at the provider still running), after 1 s of rest:
``VmRSS`` of ``/proc/PID/status``, as ``make bench``'s "Idle RSS per process" row, with the split of
``/proc/PID/smaps_rollup`` (anonymous memory vs file-backed pages: the shared libraries and the mapped
``.so`` files) and the number of threads. With ``--load N``, ``wrk -t1 -c32 -dN`` with the signed-in cookie
through the all-roles process, RSS sampled every 5 s: whether it stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml

from bench import configs, login
from bench.pod_sizes import pod_files, postgres_db, values
from bench.processes import Proc, Supervisor, free_port, wait_port
from bench.wrk import run_wrk, wrk_command
from idgate.net import LocalResolver

MIB = 1 / 1024


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def rollup_kb(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value, *_ = line.split()
        out[name.rstrip(":")] = int(value)
    return out


def describe(name: str, pid: int) -> str:
    roll = rollup_kb(pid)
    return (
        f"| {name} | {status_kb(pid, 'VmRSS') * MIB:.1f} | {roll['Anonymous'] * MIB:.1f} | "
        f"{(roll['Rss'] - roll['Anonymous']) * MIB:.1f} | {status_kb(pid, 'Threads')} |"
    )


@dataclass
class Bench:
    """What the three measurements share: the supervisor, the directory, the secrets, the rows so far."""

    sup: Supervisor
    tmp: Path
    env: dict[str, str]  # PYTHONPATH of the idgate measured
    sec: configs.Secrets = field(default_factory=configs.Secrets)
    rows: list[str] = field(default_factory=list)

    def start(self, name: str, args: list[str], port: int, env: dict[str, str] | None = None) -> Proc:
        argv = [sys.executable, "-m", "idgate", "serve", *args, "--listen", f"127.0.0.1:{port}"]
        env = {"IDGATE_LOG_LEVEL": "WARNING", **self.env, **(env or {})}
        proc = self.sup.start(name, argv, env=env, cwd=self.tmp)
        wait_port(port, proc, timeout=60)
        time.sleep(2.0)  # start-up work done (migrations, the first signing key)
        return proc

    def measure(self, name: str, proc: Proc) -> None:
        time.sleep(1.0)
        self.rows.append(describe(name, proc.pid))


def soak(port: int, app: str, cookie: str, pid: int, seconds: float) -> list[tuple[float, float]]:
    """``wrk -t1 -c32`` for ``seconds`` through ``app`` with ``cookie``; (t, RSS MiB) every 5 s."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    began = time.monotonic()

    def sample() -> None:
        while not done.wait(5.0):
            samples.append((time.monotonic() - began, status_kb(pid, "VmRSS") * MIB))

    sampler = threading.Thread(target=sample, daemon=True)
    samples.append((0.0, status_kb(pid, "VmRSS") * MIB))
    sampler.start()
    headers = [f"Host: {app}", f"Cookie: {cookie}"]
    got = run_wrk(
        wrk_command(f"http://127.0.0.1:{port}/", seconds=seconds, connections=32, headers=headers), seconds
    )
    done.set()
    sampler.join()
    time.sleep(1.0)
    samples.append((time.monotonic() - began, status_kb(pid, "VmRSS") * MIB))
    print(f"load: {got.rps:.0f} requests/s, {got.bad_status} not 200", file=sys.stderr)
    return samples


def all_roles(b: Bench, upstream: int, password_hash: str, load: float) -> None:
    """``make bench``'s idgate-1w: its values file, one worker, SQLite; signed in through its proxy."""
    ports = configs.Ports(upstream, 0, {"idgate-1w": free_port()}, {}, 0)
    port = ports.issuer_port
    values_path = b.tmp / "values.yaml"
    configs.write_values(values_path, configs.idgate_values(b.tmp, ports, b.sec, password_hash))
    (b.tmp / "idgate-data").mkdir()
    asyncio.run(configs.add_token_users(configs.storage_url(b.tmp), password_hash))
    args = ["--config", str(values_path), "--workers", "1"]
    proc = b.start("all", [*args, "--set", f"idgate.metrics_listen=127.0.0.1:{free_port()}"], port)
    app = f"{configs.APP_HOST}:{port}"
    cookie = asyncio.run(login.browser_login(f"http://{app}/", b.sec.password))
    b.measure("all roles, 1 worker (SQLite)", proc)
    if load:
        for t, mib in soak(port, app, cookie, proc.pid, load):
            print(f"  t={t:5.0f}s RSS {mib:.1f} MiB", file=sys.stderr)
        b.measure(f"all roles, after {load:.0f} s of wrk -c32", proc)
    b.sup.stop(proc)


def pods(b: Bench, upstream: int, password_hash: str, postgres: bool) -> None:
    """The provider's pod after one login (on PostgreSQL, then SQLite), then the proxy's signed in at it."""
    ports = {"provider": free_port(), "proxy": free_port(), "upstream": upstream}
    pod_values = b.tmp / "pods.yaml"
    pod_values.write_text(yaml.safe_dump(values(ports, b.sec, password_hash, "cookie"), sort_keys=False))
    files = pod_files(pod_values, b.tmp)
    issuer = f"http://{configs.PROVIDER_HOST}:{ports['provider']}/dex"

    async def one_login() -> bool:
        connector = aiohttp.TCPConnector(resolver=LocalResolver())
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
            return await login._one_login(http, issuer, b.sec.password, configs.token_user(1)[1])

    def provider(storage: str, name: str) -> Proc:
        asyncio.run(configs.add_token_users(storage, password_hash))
        path, env = files["provider"]
        args = [
            "--config",
            str(path),
            "--role",
            "provider",
            "--set",
            f"idgate.health_listen=127.0.0.1:{free_port()}",
        ]
        proc = b.start("provider", args, ports["provider"], {**env, "IDGATE_STORAGE": storage})
        if not asyncio.run(one_login()):
            raise RuntimeError(f"the provider's login failed ({name})")
        b.measure(f"provider ({name})", proc)
        return proc

    if postgres:
        with postgres_db() as url:
            b.sup.stop(provider(url, "PostgreSQL"))
    provider(f"sqlite:///{b.tmp}/pods.db", "SQLite")  # the proxy signs in at this one
    path, env = files["proxy"]
    args = ["--config", str(path), "--role", "proxy", "--deployment", "app"]
    args += ["--set", f"idgate.health_listen=127.0.0.1:{free_port()}"]
    proc = b.start("proxy", args, ports["proxy"], env)
    asyncio.run(login.browser_login(f"http://{configs.APP_HOST}:{ports['proxy']}/", b.sec.password))
    b.measure("proxy (cookie sessions)", proc)


def run(args: argparse.Namespace) -> list[str]:
    env = {"PYTHONPATH": str(Path(args.idgate_src).resolve())} if args.idgate_src else {}
    with tempfile.TemporaryDirectory(prefix="idgate-rss-") as name, Supervisor(Path(name)) as sup:
        b = Bench(sup, Path(name), env)
        os.chmod(b.tmp, 0o755)  # noqa: S103 - nginx's workers run as www-data
        (b.tmp / "www").mkdir()
        (b.tmp / "www" / "file.bin").write_bytes(b"x" * (configs.BODY_BYTES - 1) + b"\n")
        (b.tmp / "upstream").mkdir()
        shutil.chown(b.tmp / "upstream", "www-data", "www-data")
        upstream = free_port()
        conf = b.tmp / "upstream" / "nginx.conf"
        conf.write_text(configs.upstream_nginx_conf(b.tmp, upstream))
        wait_port(upstream, sup.start("upstream", ["nginx", "-c", str(conf), "-p", str(b.tmp / "upstream")]))
        password_hash = b.sec.password_hash(10)
        all_roles(b, upstream, password_hash, args.load)
        pods(b, upstream, password_hash, args.postgres)
        return b.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--load", type=float, default=0.0, help="seconds of wrk -c32 through the all-roles process"
    )
    parser.add_argument(
        "--idgate-src", help="the src/ directory of the idgate to measure (default: this one)"
    )
    parser.add_argument("--postgres", action="store_true", help="also the provider on PostgreSQL")
    rows = run(parser.parse_args())
    print("| process | VmRSS MiB | anonymous MiB | file-backed MiB | threads |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

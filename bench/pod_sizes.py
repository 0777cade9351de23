"""Pod sizes (issue 17): RSS and CPU of each role as its Kubernetes pod runs it, idle and under load.

``python -m bench.pod_sizes [--seconds 20] [--idle 10]``, by hand (not in ``make test`` or ``make bench``).

1. A values file (provider + one deployment ``app``) goes through ``idgate render kubernetes``'s code; each
   role runs **the pod's own values document** (the rendered ConfigMap) with the pod's environment (the
   rendered Secret): ``idgate serve --config values.yaml --role provider`` and ``--role proxy --deployment
   app``, one process each, on loopback (``--listen``; the pod's health listener on a free port). Four
   configurations: the provider on SQLite and on PostgreSQL (a database of its own on 127.0.0.1:5432,
   dropped at the end), the proxy with cookie sessions and with sessions in Redis (a redis-server of its
   own, no persistence).
2. Three phases per configuration, after 2 s of start-up:
   - idle, ``--idle`` seconds;
   - steady: an ordinary, paced load for ``--seconds``: 1 password login per second at the provider
     (``/auth`` -> form -> POST -> code, bcrypt cost 10), 500 authenticated requests per second through
     the proxy (``wrk -c32`` with ``pace.lua``, 64 ms between a connection's requests);
   - peak: saturation for ``--seconds``: logins from 8 concurrent browsers (``bench/login.py``), or
     ``wrk -t1 -c32`` without pauses; the proxy's requests carry a session from a real sign-in and reach an
     nginx upstream serving 1 KiB.
3. Sampled every 0.25 s from ``/proc``: RSS of the role's process tree (``VmRSS`` summed; a pod's memory
   cgroup also counts page cache, so this is the floor of what the kubelet sees) and CPU (utime+stime of
   the tree over the phase, in millicores). "steady" RSS = the largest sample of the steady phase; "peak"
   RSS = the largest sample of the peak phase or ``VmHWM``, whichever is larger.

Prints one Markdown table; ``bench/POD_SIZES.md`` keeps the numbers and the method (``make bench`` copies it
into ``bench/RESULTS.md`` as "Pod sizes (issue 17)"), and :mod:`idgate.deploy.sizes` turns them into the
rendered requests and limits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench import configs, cpu, login
from bench.processes import Proc, Supervisor, free_port, wait_port
from bench.wrk import run_wrk, wrk_command
from idgate.net import LocalResolver

HERE = Path(__file__).resolve().parent
SAMPLE_EVERY = 0.25
PACE_MS = 64  # wrk -c32 with 64 ms between a connection's requests: ~500 requests/s
LOGINS_PER_SECOND = 1.0
MIB = 1 / 1024


@dataclass
class Phase:
    rss_kb: int  # the largest sample (peak phase: or VmHWM)
    cpu_m: float  # millicores over the phase
    rate: str  # what the load achieved


@dataclass
class Measured:
    role: str
    idle: Phase
    steady: Phase
    peak: Phase


def values(ports: dict[str, int], sec: configs.Secrets, password_hash: str, sessions: str) -> dict[str, Any]:
    provider = f"{configs.PROVIDER_HOST}:{ports['provider']}"
    app = f"{configs.APP_HOST}:{ports['proxy']}"
    return {
        "dex": {
            "replicas": 1,
            "ingress": {"host": provider, "path": "/dex", "scheme": "http"},
            "staticPasswords": [
                {"email": configs.EMAIL, "hash": password_hash, "username": "bench", "userID": sec.user_id}
            ],
            "clients": [
                {"id": "app", "secret": sec.app_secret, "RedirectURIs": [f"http://{app}/oauth/callback"]},
                {"id": "rp", "secret": sec.rp_secret, "RedirectURIs": [configs.BENCH_REDIRECT]},
            ],
        },
        "iap": {
            "oidc_issuer_url": f"http://{provider}/dex",
            "replicas": 1,
            "deployments": {"app": configs.app_deployment(sec, ports["upstream"], app)},
        },
        "idgate": {"sessions": sessions},
    }


def pod_files(values_path: Path, out: Path) -> dict[str, tuple[Path, dict[str, str]]]:
    """Role -> (the pod's values.yaml, the pod's Secret environment), from the render's own code."""
    from idgate.config import load_config
    from idgate.deploy.kubernetes import render_kubernetes

    objects = render_kubernetes(load_config(values_path)).objects
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    pods: dict[str, tuple[Path, dict[str, str]]] = {}
    for role, cm, sec in (
        ("provider", "dex", "dex-secret"),
        ("proxy", "iap-app-configmap", "iap-app-secret"),
    ):
        path = out / f"{role}.yaml"
        path.write_text(by_name[("ConfigMap", cm)]["data"]["values.yaml"])
        data = by_name[("Secret", sec)]["data"]
        pods[role] = (path, {k: base64.b64decode(v).decode() for k, v in data.items()})
    return pods


def tree_rss_kb(root: int, key: str = "VmRSS") -> int:
    total = 0
    for pid in cpu.descendants(root, cpu.read_stats()):
        with contextlib.suppress(OSError):
            total += cpu.parse_status_kb(Path(f"/proc/{pid}/status").read_text(), key)
    return total


def phase(root: int, load: Callable[[], str], *, hwm: bool = False) -> Phase:
    """Run ``load`` while sampling the tree under ``root``."""
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(SAMPLE_EVERY):
            samples.append(tree_rss_kb(root))

    thread = threading.Thread(target=sample, daemon=True)
    ticks, start = cpu.cpu_ticks([root]), time.monotonic()
    thread.start()
    try:
        rate = load()
    finally:
        stop.set()
        thread.join()
    spent = (cpu.cpu_ticks([root]) - ticks) / cpu.CLOCK_TICKS
    rss = max([*samples, tree_rss_kb(root), tree_rss_kb(root, "VmHWM") if hwm else 0])
    return Phase(rss, 1000 * spent / (time.monotonic() - start), rate)


def start_role(sup: Supervisor, role: str, pod: tuple[Path, dict[str, str]], port: int, tmp: Path) -> Proc:
    path, env = pod
    argv = [sys.executable, "-m", "idgate", "serve", "--config", str(path), "--role", role]
    argv += ["--deployment", "app"] if role == "proxy" else []
    argv += ["--listen", f"127.0.0.1:{port}", "--set", f"idgate.health_listen=127.0.0.1:{free_port()}"]
    proc = sup.start(role, argv, env={**env, "IDGATE_LOG_LEVEL": "WARNING"}, cwd=tmp)
    wait_port(port, proc, timeout=60)
    time.sleep(2.0)  # start-up work done (migrations, the first signing key)
    return proc


def measure(
    role: str, proc: Proc, idle: float, steady: Callable[[], str], peak: Callable[[], str]
) -> Measured:
    def rest() -> str:
        time.sleep(idle)
        return "-"

    got = Measured(role, phase(proc.pid, rest), phase(proc.pid, steady), phase(proc.pid, peak, hwm=True))
    proc.check_alive()
    return got


def paced_logins(issuer: str, password: str, seconds: float) -> str:
    """One browser, one complete login per second (each a different account, as login_rate does)."""

    async def go() -> tuple[int, int]:
        ok = bad = 0
        connector = aiohttp.TCPConnector(resolver=LocalResolver())
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                email = configs.token_user((ok + bad) % configs.TOKEN_USERS)[1]
                if await login._one_login(http, issuer, password, email):
                    ok += 1
                else:
                    bad += 1
                await asyncio.sleep(max(0.0, start + (ok + bad) / LOGINS_PER_SECOND - time.monotonic()))
        return ok, bad

    ok, bad = asyncio.run(go())
    return f"{ok / seconds:.1f} logins/s ({bad} failed)"


def saturated_logins(issuer: str, password: str, seconds: float) -> str:
    rate = asyncio.run(login.login_rate(issuer, password, concurrency=8, seconds=seconds))
    return f"{rate.per_second:.1f} logins/s ({rate.failures} failed)"


def proxy_load(port: int, app: str, cookie: str, seconds: float, *, paced: bool) -> str:
    script = {"script": HERE / "pace.lua", "script_args": [str(PACE_MS)]} if paced else {}
    cmd = wrk_command(
        f"http://127.0.0.1:{port}/",
        seconds=seconds,
        connections=32,
        headers=[f"Host: {app}", f"Cookie: {cookie}"],
        **script,  # type: ignore[arg-type]
    )
    got = run_wrk(cmd, seconds)
    return f"{got.rps:.0f} requests/s ({got.bad_status} not 200)"


@contextlib.contextmanager
def postgres_db() -> Iterator[str]:
    name = f"idgate_podsizes_{uuid.uuid4().hex[:8]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True)  # noqa: S603 - fixed argv
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)  # noqa: S603


def run(args: argparse.Namespace) -> list[Measured]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    sec = configs.Secrets()
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="idgate-podsizes-") as name, Supervisor(Path(name)) as sup:
        tmp = Path(name)
        os.chmod(tmp, 0o755)  # noqa: S103 - nginx's workers run as www-data
        (tmp / "www").mkdir()
        (tmp / "www" / "file.bin").write_bytes(b"x" * (configs.BODY_BYTES - 1) + b"\n")
        (tmp / "upstream").mkdir()
        shutil.chown(tmp / "upstream", "www-data", "www-data")
        ports = {"provider": free_port(), "proxy": free_port(), "upstream": free_port(), "redis": free_port()}
        conf = tmp / "upstream" / "nginx.conf"
        conf.write_text(configs.upstream_nginx_conf(tmp, ports["upstream"]))
        wait_port(
            ports["upstream"], sup.start("upstream", ["nginx", "-c", str(conf), "-p", str(tmp / "upstream")])
        )
        wait_port(ports["redis"], sup.start("redis", configs.redis_argv(ports["redis"], tmp)))
        password_hash = sec.password_hash(10)
        issuer = f"http://{configs.PROVIDER_HOST}:{ports['provider']}/dex"
        app = f"{configs.APP_HOST}:{ports['proxy']}"
        seconds = args.seconds
        for sessions in ("cookie", f"redis://127.0.0.1:{ports['redis']}/0"):
            values_path = tmp / "values.yaml"
            values_path.write_text(
                yaml.safe_dump(values(ports, sec, password_hash, sessions), sort_keys=False)
            )
            pods = pod_files(values_path, tmp)
            stores = [("SQLite", contextlib.nullcontext(f"sqlite:///{tmp}/idgate.db"))]
            if sessions != "cookie":  # the replicated set-up: PostgreSQL and Redis
                stores = [("PostgreSQL", postgres_db())]  # type: ignore[list-item]
            for store_name, store in stores:
                with store as storage:
                    asyncio.run(configs.add_token_users(storage, password_hash))
                    path, env = pods["provider"]
                    provider = start_role(
                        sup, "provider", (path, {**env, "IDGATE_STORAGE": storage}), ports["provider"], tmp
                    )
                    results.append(
                        measure(
                            f"provider ({store_name})",
                            provider,
                            args.idle,
                            lambda: paced_logins(issuer, sec.password, seconds),
                            lambda: saturated_logins(issuer, sec.password, seconds),
                        )
                    )
                    proxy = start_role(sup, "proxy", pods["proxy"], ports["proxy"], tmp)
                    cookie = asyncio.run(login.browser_login(f"http://{app}/", sec.password))
                    results.append(
                        measure(
                            f"proxy ({'cookie' if sessions == 'cookie' else 'Redis'} sessions)",
                            proxy,
                            args.idle,
                            lambda c=cookie: proxy_load(ports["proxy"], app, c, seconds, paced=True),
                            lambda c=cookie: proxy_load(ports["proxy"], app, c, seconds, paced=False),
                        )
                    )
                    sup.stop(proxy)
                    sup.stop(provider)
    return results


def table(results: list[Measured]) -> str:
    lines = [
        "| role | RSS idle | RSS steady | RSS peak | CPU idle | CPU steady | CPU peak | steady load "
        "| peak load |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for m in results:
        lines.append(
            f"| {m.role} | {m.idle.rss_kb * MIB:.1f} MiB | {m.steady.rss_kb * MIB:.1f} MiB | "
            f"{m.peak.rss_kb * MIB:.1f} MiB | {m.idle.cpu_m:.0f}m | {m.steady.cpu_m:.0f}m | "
            f"{m.peak.cpu_m:.0f}m | {m.steady.rate} | {m.peak.rate} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="each load phase (steady, peak)")
    parser.add_argument("--idle", type=float, default=10.0, help="the idle phase")
    print(table(run(parser.parse_args())))


if __name__ == "__main__":
    main()

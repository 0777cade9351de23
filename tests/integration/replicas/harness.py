"""Run idgate replicas apart, as Kubernetes would: one process per role (and per deployment), several
replicas on one PostgreSQL database, and nginx balancing round-robin in front of each pair.

::

    browser --> nginx :front  (round-robin, no stickiness, retries the next replica on a refused connection)
                 ├── kkp.localhost     -> provider replica A :pa | provider replica B :pb   (PostgreSQL)
                 └── grafana.localhost -> proxy replica A :xa    | proxy replica B :xb      (cookie sessions)

Every replica reads the same values file (hosts on nginx's port) and overrides only ``idgate.listen``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tests.e2e.harness import Running, free_port, local_values, start_idgate, wait_listening

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def replica_values(
    front: int, upstream_port: int, data_dir: Path, storage: str, *, redis: str | None = None
) -> dict[str, Any]:
    """The KKP example on this machine, every host on nginx's port, state in ``storage``; with ``redis``
    (a ``redis://`` URL) the grafana deployment keeps its sessions there (``session_store_type: redis``).
    """
    values = local_values(front, upstream_port, data_dir)
    values["idgate"]["storage"] = storage
    if redis is not None:
        config = values["iap"]["deployments"]["grafana"].setdefault("config", {})
        config.update(session_store_type="redis", redis_connection_url=redis)
    return values


def start_replica(
    config: Path,
    role: str,
    log: Path,
    *,
    deployment: str | None = None,
    env: dict[str, str] | None = None,
    taken: frozenset[int] = frozenset(),
) -> Running:
    """``idgate serve --config FILE --role ROLE [--deployment N] --listen 127.0.0.1:<free port>``.

    ``taken``: ports chosen but not bound yet (nginx's front, started after the replicas), which the
    kernel may offer again as free; a replica given one of them would answer in nginx's place.
    """
    port = free_port()
    while port in taken:
        port = free_port()
    args = ["serve", "--config", str(config), "--role", role, "--listen", f"127.0.0.1:{port}"]
    args += ["--deployment", deployment] if deployment else []
    return start_idgate(args, port, log, env)


def nginx_conf(front: int, pools: dict[str, list[int]], run_dir: Path) -> str:
    """Round-robin over each pool's replicas by ``Host``; a refused connection moves on to the next."""
    upstreams, servers = [], []
    for host, ports in pools.items():
        name = host.replace(".", "_")
        members = "".join(f"        server 127.0.0.1:{p} max_fails=0;\n" for p in ports)
        upstreams.append(f"    upstream {name} {{\n{members}        keepalive 16;\n    }}\n")
        servers.append(
            f"    server {{\n        listen 127.0.0.1:{front};\n        server_name {host};\n"
            "        location / {\n"
            f"            proxy_pass http://{name};\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
            "            proxy_set_header Host $http_host;\n"
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "            proxy_set_header X-Forwarded-Proto $scheme;\n"
            "            proxy_next_upstream error timeout;\n"
            "        }\n    }\n"
        )
    d = run_dir
    return (
        f"worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
        "events { worker_connections 1024; }\nhttp {\n"
        f"    access_log {d}/access.log;\n    client_body_temp_path {d}/body;\n"
        f"    proxy_temp_path {d}/proxy;\n"
        f"    fastcgi_temp_path {d}/fcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n"
        + "".join(upstreams)
        + "".join(servers)
        + "}\n"
    )


@dataclass
class Nginx:
    process: subprocess.Popen[bytes]
    conf: Path

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_nginx(front: int, pools: dict[str, list[int]], run_dir: Path) -> Nginx:
    assert Path(NGINX).exists(), "nginx is not installed: run scripts/system-deps (Debian package nginx)"
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(nginx_conf(front, pools, run_dir))
    log = run_dir / "nginx.out"
    process = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(run_dir), "-e", str(run_dir / "error.log")],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_listening(front, process, log)  # type: ignore[arg-type]
    return Nginx(process, conf)


@dataclass
class Cluster:
    """The replicas by role, and nginx in front of them."""

    front: int
    config: Path
    providers: list[Running] = field(default_factory=list)
    proxies: list[Running] = field(default_factory=list)
    nginx: Nginx | None = None

    def url(self, service: str, path: str = "/") -> str:
        return f"http://{service}.localhost:{self.front}{path}"

    def kill(self, replica: Running) -> None:
        """SIGKILL: no clean shutdown, as when a node dies."""
        os.kill(replica.process.pid, signal.SIGKILL)
        replica.process.wait(timeout=10)

    def restart(self, replica: Running, role: str, log: Path) -> Running:
        """SIGKILL ``replica`` (if it still runs) and start a new process of ``role`` on its port, so nginx
        sends it traffic again: a replaced pod."""
        if replica.process.poll() is None:
            self.kill(replica)
        args = [
            "serve",
            "--config",
            str(self.config),
            "--role",
            role,
            "--listen",
            f"127.0.0.1:{replica.port}",
        ]
        args += ["--deployment", "grafana"] if role == "proxy" else []
        fresh = start_idgate(args, replica.port, log)
        pool = self.providers if role == "provider" else self.proxies
        pool[pool.index(replica)] = fresh
        return fresh

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for r in [*self.providers, *self.proxies]:
            if r.process.poll() is None:
                r.process.terminate()
                try:
                    r.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    r.process.kill()


def start_cluster(config: Path, front: int, tmp: Path, replicas: int = 2) -> Cluster:
    """``replicas`` provider and proxy (grafana) processes, then nginx over them."""
    cluster = Cluster(front, config)
    try:
        for i in range(replicas):
            cluster.providers.append(
                start_replica(config, "provider", tmp / f"provider-{i}.log", taken=frozenset({front}))
            )
        for i in range(replicas):
            cluster.proxies.append(
                start_replica(
                    config, "proxy", tmp / f"proxy-{i}.log", deployment="grafana", taken=frozenset({front})
                )
            )
        pools = {
            "kkp.localhost": [r.port for r in cluster.providers],
            "grafana.localhost": [r.port for r in cluster.proxies],
        }
        cluster.nginx = start_nginx(front, pools, tmp / "nginx")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def dump_values(values: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path

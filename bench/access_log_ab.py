"""In-process A/B of what writing a request's log lines costs: the edge's access line (and the audit line of
trees that still write one), with logging configured as ``idgate serve`` configures it.

``python -m bench.access_log_ab A_SRC B_SRC [--rounds 5] [--requests 50000] [--format text]`` runs each
tree in a child process of its own (``PYTHONPATH=<src>``), alternating A B A B ..., and prints the best CPU
nanoseconds per request of each (``time.process_time``: every thread of the process, so a writer thread's
work counts too). A child's stderr is a file in a temporary directory, as a log collector's would be.

One request: an allowed ``GET`` through a trusted ingress (``X-Forwarded-For``) on a deployment, with a
session. Per request, each tree does what its edge does after the answer: counts the decision, writes
the audit line where the tree has one (``dispatch._audit``), counts the request and writes the access line
(``EdgeConnection._log``) -- once with ``IDGATE_LOG_LEVEL=INFO`` (``on``) and once with ``WARNING``
(``off``: counting only). ``on - off`` is the cost of the lines. A tree with ``batched_access_log`` (the
batched writer) is measured with it, its last lines written before the clock stops.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import asyncio, json, sys, time
from idgate.clock import FrozenClock
from idgate.edge import dispatch as dispatch_module
from idgate.edge.connection import EdgeConnection, EdgeState
from idgate.edge.http import Request
from idgate.edge.limits import EdgeLimits
from idgate.edge.routes import RouteTable
from idgate.edge.stats import EdgeStats
from idgate.proxy.services import build_services
from idgate.runtime import logs
from idgate.sessions.base import Session
from idgate.settings import ProxySettings, Settings

fmt, level, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
NOW = 1_800_000_000.0
logs.configure_logging(fmt, level)
p = ProxySettings(
    name="grafana", host="grafana.example.com", upstream="http://127.0.0.1:1", issuer_url="http://idp.test",
    client_id="grafana", client_secret="s", encryption_key=b"k" * 32, email_domains=("example.com",),
)
services = build_services([p], FrozenClock(NOW), None)
table = RouteTable.build(Settings(proxies=(p,)), provider_socket=None, signin_socket=None, services=services)
fields = dict(user="alice-sub", email="alice@example.com", email_verified=True, created_at=NOW - 10,
              expires_at=NOW + 3600, preferred_username="alice", groups=("org", "org:team"))
if "sid" in Session.__dataclass_fields__:
    fields["sid"] = "Zm9vYmFyYmF6cXV4cXV1eA"
sealed = services[p.name].store.seal(Session(**fields))


async def main():
    batched = getattr(logs, "batched_access_log", None)
    access = batched(fmt) if batched is not None else None
    extra = {"access": access} if access is not None else {}
    state = EdgeState(table, FrozenClock(NOW), EdgeLimits(), stats=EdgeStats(), **extra)
    if access is not None:
        access.start()
    conn = EdgeConnection(state)
    conn.peer = b"10.1.2.3"
    req = Request(time.perf_counter())
    req.url = b"/api/datasources/proxy/1/api/v1/query_range?query=up&start=1&end=2&step=15"
    req.method = b"GET"
    cookie = b"grafana_oauth2_proxy=" + sealed.encode()
    for name, value in ((b"Host", b"grafana.example.com"), (b"X-Forwarded-For", b"203.0.113.7"),
                        (b"Accept", b"application/json"), (b"Cookie", cookie)):
        req.add_header(name, value)
    req.complete = True
    kind, dep = table.match(req.host, req.path())
    gate = dep.gate
    verified = gate.open(gate.split(req.cookies)[0], NOW)
    decision = gate.decide(req, verified, False)
    assert decision.allowed
    conn.deployment = "grafana"
    conn._status = 200
    conn.reason = decision.reason
    audit = getattr(dispatch_module, "_audit", None)
    if audit is None:
        conn.user = verified.session.email
        conn.decision = "allow"
    stats = state.stats
    start = time.process_time()
    for _ in range(n):
        if audit is not None:
            audit(conn, gate, req, verified, decision)
        else:
            stats.decision(gate.name, decision.allowed, decision.reasons)
        conn._log(req)
    if access is not None:
        await access.aclose(60.0)
    return (time.process_time() - start) / n * 1e9


print(json.dumps(asyncio.run(main())))
"""


def run(src: str, fmt: str, level: str, requests: int) -> float:
    env = {**os.environ, "PYTHONPATH": src}
    with tempfile.TemporaryFile() as err:
        done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
            [sys.executable, "-c", CHILD, fmt, level, str(requests)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            check=False,
        )
        if done.returncode:
            err.seek(0)
            raise SystemExit(err.read().decode(errors="replace")[-3000:])
    result: float = json.loads(done.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=50_000)
    ap.add_argument("--format", choices=["text", "json"], default="text")
    args = ap.parse_args()
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for label, src in (("A", args.a), ("B", args.b)):
            for level in ("INFO", "WARNING"):
                ns = run(src, args.format, level, args.requests)
                best[label, level] = min(ns, best.get((label, level), float("inf")))
    for label in ("A", "B"):
        on, off = best[label, "INFO"], best[label, "WARNING"]
        print(
            f"{label} ({args.format}): on {on:7.0f} ns  off {off:7.0f} ns  lines {on - off:+7.0f} ns/request"
        )


if __name__ == "__main__":
    main()

"""In-process A/B of the hot path's session check: ``Gate.open`` on a memo hit and on a miss.

``python -m bench.hotpath_ab A_SRC B_SRC [--rounds 5] [--requests 200000]`` runs each tree's ``Gate.open``
in a child process of its own (``PYTHONPATH=<src>``), alternating A B A B ..., and prints the best
CPU nanoseconds per call of each (``time.process_time``: the time the process ran, so that other jobs on
the cores count less than in wall time; a wrk run on a loaded machine measures nothing, bench/ANALYSIS.md).
The session cookie is sealed by each tree itself.

- ``hit``: the verified cookie is in the memo (what every request after the first pays);
- ``miss``: the memo is off (``memo_size=0``): base64, AES-GCM, JSON, the session and its headers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time
from idgate.clock import FrozenClock
try:
    from idgate.edge.gate import Gate
except ImportError:  # a tree from before the edge's gate had a module of its own
    from idgate.edge.hotpath import Gate
from idgate.proxy.services import build_services
from idgate.sessions.base import Session
from idgate.settings import ProxySettings

NOW = 1_800_000_000.0
p = ProxySettings(name="app", host="app.test", upstream="http://127.0.0.1:1", issuer_url="http://idp.test",
                  client_id="app", client_secret="s", encryption_key=b"k" * 32, email_domains=("*",))
fields = dict(user="alice-sub", email="alice@example.com", email_verified=True, created_at=NOW - 10,
              expires_at=NOW + 3600, preferred_username="alice", groups=("org", "org:team"))
if "sid" in Session.__dataclass_fields__:
    fields["sid"] = "Zm9vYmFyYmF6cXV4cXV1eA"
session = Session(**fields)
n = int(sys.argv[1])
out = {}
for name, memo in (("hit", 10_000), ("miss", 0)):
    services = build_services([p], FrozenClock(NOW), None)
    gate = Gate(p, memo_size=memo, services=services[p.name])
    sealed = services[p.name].store.seal(session)
    assert gate.open(sealed, NOW) is not None
    calls = n if memo else n // 20
    start = time.process_time()
    for _ in range(calls):
        gate.open(sealed, NOW)
    out[name] = (time.process_time() - start) / calls * 1e9
print(json.dumps(out))
"""


def run(src: str, requests: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", CHILD, str(requests)], env=env, capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=200_000)
    args = ap.parse_args()
    best: dict[str, dict[str, float]] = {"A": {}, "B": {}}
    for _ in range(args.rounds):
        for label, src in (("A", args.a), ("B", args.b)):
            for kind, ns in run(src, args.requests).items():
                best[label][kind] = min(ns, best[label].get(kind, float("inf")))
    for kind in ("hit", "miss"):
        a, b = best["A"][kind], best["B"][kind]
        print(f"{kind:5} A {a:8.0f} ns  B {b:8.0f} ns  B-A {b - a:+7.0f} ns ({(b - a) / a:+.1%})")


if __name__ == "__main__":
    main()

"""In-process A/B of the edge's answers: ``dispatch`` for one request, without sockets.

``python -m bench.edge_ab A_SRC B_SRC [--rounds 5] [--requests 100000]`` runs each tree's
``idgate.edge.dispatch.dispatch`` in a child process of its own (``PYTHONPATH=<src>``), alternating
A B A B ..., and prints the best CPU nanoseconds per request of each case (``time.process_time``, as
``bench/hotpath_ab.py``). The connection is a stand-in that records the answer and forwards nothing, so a
case measures what the edge decides per request -- routing, the cookie, the session memo, the policy, the
verdict and the answer's bytes -- and not the socket work around it. Only ``dispatch``, ``RouteTable``,
``Request`` and the settings are used, so trees from before and after a reshape of the edge compare.

Cases (the session cookie is a memo hit, as for every request after the first):

- ``forward``: an allowed browser request, forwarded (identity headers built, the upstream not called);
- ``login``: no cookie, a browser: 302 to ``/oauth/start``;
- ``api401``: no cookie, ``Accept: application/json``: 401 JSON;
- ``refused``: a session the policy refuses: the 403 page;
- ``auth202`` / ``auth401``: ``/oauth/auth`` with and without a session.
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
from idgate.edge.dispatch import dispatch
from idgate.edge.http import Request
from idgate.edge.limits import EdgeLimits
from idgate.edge.routes import RouteTable
from idgate.edge.stats import EdgeStats
from idgate.proxy.services import build_services
from idgate.sessions.base import Session
from idgate.settings import ProxySettings, Settings

NOW = 1_800_000_000.0
p = ProxySettings(
    name="app", host="app.test", upstream="http://127.0.0.1:1", issuer_url="http://idp.test", client_id="app",
    client_secret="s", encryption_key=b"k" * 32, email_domains=("example.com",), pass_idgate_assertion=False,
)
services = build_services([p], FrozenClock(NOW), None)
table = RouteTable.build(Settings(proxies=(p,)), provider_socket=None, signin_socket=None, services=services)


def sealed(email):
    fields = dict(user="alice-sub", email=email, email_verified=True, created_at=NOW - 10,
                  expires_at=NOW + 3600, preferred_username="alice", groups=("org", "org:team"))
    if "sid" in Session.__dataclass_fields__:
        fields["sid"] = "Zm9vYmFyYmF6cXV4cXV1eA"
    return services[p.name].store.seal(Session(**fields))


class State:
    def __init__(self):
        self.table = table
        self.clock = FrozenClock(NOW)
        self.limits = EdgeLimits()
        self.stats = EdgeStats()
        self.closing = False


class Conn:
    def __init__(self):
        self.state = State()
        self.peer = b"127.0.0.1"
        self.deployment = ""
        self.reason = ""
        self.status = 0

    def reply(self, status, data, close):
        self.status = status

    def forward_to(self, req, target, extra, cookie, upgrade, **kw):
        self.status = 1

    def defer(self, req, work):
        raise AssertionError("no async step expected")

    def error(self, status, reason, *, close):
        raise AssertionError(reason)


def request(url, cookie=None, accept=b"text/html"):
    req = Request(0.0)
    req.url = url
    req.method = b"GET"
    req.add_header(b"Host", b"app.test")
    req.add_header(b"Accept", accept)
    if cookie is not None:
        req.add_header(b"Cookie", b"theme=dark; app_oauth2_proxy=" + cookie.encode())
    req.complete = True
    return req


good, bad = sealed("alice@example.com"), sealed("mallory@elsewhere.test")
cases = {
    "forward": (request(b"/api/v1/query?q=up", good), 1),
    "login": (request(b"/graph?x=1"), 302),
    "api401": (request(b"/api/v1/query", accept=b"application/json"), 401),
    "refused": (request(b"/", bad), 403),
    "auth202": (request(b"/oauth/auth", good), 202),
    "auth401": (request(b"/oauth/auth"), 401),
}
n = int(sys.argv[1])
out = {}
conn = Conn()
for name, (req, want) in cases.items():
    dispatch(conn, req)
    assert conn.status == want, (name, conn.status)
    start = time.process_time()
    for _ in range(n):
        dispatch(conn, req)
    out[name] = (time.process_time() - start) / n * 1e9
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
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    best: dict[str, dict[str, float]] = {"A": {}, "B": {}}
    for _ in range(args.rounds):
        for label, src in (("A", args.a), ("B", args.b)):
            for kind, ns in run(src, args.requests).items():
                best[label][kind] = min(ns, best[label].get(kind, float("inf")))
    for kind, a in best["A"].items():
        b = best["B"][kind]
        print(f"{kind:8} A {a:8.0f} ns  B {b:8.0f} ns  B-A {b - a:+7.0f} ns ({(b - a) / a:+.1%})")


if __name__ == "__main__":
    main()

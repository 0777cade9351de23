"""In-process A/B of idgate's request path, without sockets: two source trees, case by case.

``python -m bench.edge_ab A_SRC B_SRC [--rounds 5] [--requests 20000] [--cases forward,gate-hit]`` runs
each tree in a child process of its own (``PYTHONPATH=<src>``), alternating A B A B ..., and prints the
best CPU nanoseconds per request of each case (``time.process_time``: the time the process ran, so other
jobs on the cores count less than in wall time; a wrk run on a loaded machine measures nothing,
bench/ANALYSIS.md). ``make bench-compiled-ab`` runs it with the interpreted copy of ``src/`` as A and the
compiled build as B. Each child says which tree it imported and how many of its modules are compiled.

The child drives the edge through what it is given in production, and nothing else, so a compiled build
(whose classes cannot be patched) runs as it ships: a real ``EdgeConnection`` is handed a stand-in
transport (an ``asyncio.Transport`` that keeps what is written and sends nothing) and fed the request's
bytes; its upstream is a real ``UpstreamConnection`` over another stand-in, released into the edge's pool
as a kept-alive connection, and fed the upstream's answer as bytes. The event loop (uvloop, as idgate
runs) is never yielded to: every case is answered synchronously. Before a case is timed, one request
checks its answer (status, the identity at the upstream, the connection kept alive and back in the pool).

Cases (the session cookie is a memo hit, as for every request after the first, unless said):

- ``gate-hit`` / ``gate-miss``: ``Gate.open`` alone, memo hit, and memo off (base64, AES-GCM, JSON, the
  session and its headers);
- ``forward``: an allowed request, forwarded, the upstream's 1 KiB answer relayed: a whole exchange;
- ``forward-nomemo``: the same with ``idgate.session_memo_size=0``;
- ``forward-browser``: ``forward`` with the 15 headers a browser adds (``configs.BROWSER_HEADERS``);
- ``login``: no cookie, a browser: 302 to ``/oauth/start``; ``api401``: no cookie, JSON: 401;
- ``refused``: a session the policy refuses: the 403 page;
- ``auth202`` / ``auth401``: ``/oauth/auth`` with and without a session.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_800_000_000.0
HOST = b"app.test"
#: The bench's upstream answer: nginx serving a 1 KiB file.
UPSTREAM_ANSWER = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
    b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6956b880-400"\r\nAccept-Ranges: bytes\r\n\r\n' + b"x" * 1023 + b"\n"
)
CASES = (
    "gate-hit",
    "gate-miss",
    "forward",
    "forward-nomemo",
    "forward-browser",
    "login",
    "api401",
    "refused",
    "auth202",
    "auth401",
)
#: Cases run this many times more than ``--requests`` (a memo hit takes a microsecond).
REPEAT = {"gate-hit": 10}


class Wire(asyncio.Transport):
    """A transport that keeps what is written to it and sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out.append(bytes(data))

    def writelines(self, data: Any) -> None:
        self.out.extend(bytes(d) for d in data)

    def written(self) -> bytes:
        data = b"".join(self.out)
        self.out.clear()
        return data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50_000) if name == "peername" else default


def request(
    path: bytes, cookie: str | None = None, accept: bytes = b"text/html", extra: bytes = b""
) -> bytes:
    head = b"GET " + path + b" HTTP/1.1\r\nHost: " + HOST + b"\r\nAccept: " + accept + b"\r\n" + extra
    if cookie is not None:
        head += b"Cookie: theme=dark; app_oauth2_proxy=" + cookie.encode() + b"\r\n"
    return head + b"\r\n"


def browser_request(path: bytes, cookie: str) -> bytes:
    """A request with the headers a browser sends on a navigation (its ``Accept`` among them)."""
    from bench.configs import BROWSER_HEADERS

    accept = next(h for h in BROWSER_HEADERS if h.startswith("Accept:")).split(": ", 1)[1].encode()
    rest = b"".join(h.encode() + b"\r\n" for h in BROWSER_HEADERS if not h.startswith("Accept:"))
    return request(path, cookie, accept, rest)


class Edge:
    """One edge as ``start_edge`` builds it (memo on or off), a client connection and an upstream one."""

    def __init__(self, memo_size: int) -> None:
        from idgate.clock import FrozenClock
        from idgate.edge.connection import EdgeConnection, EdgeState
        from idgate.edge.http import HeaderRules
        from idgate.edge.limits import EdgeLimits
        from idgate.edge.pool import UpstreamConnection
        from idgate.edge.routes import RouteTable
        from idgate.edge.stats import EdgeStats
        from idgate.proxy.services import build_services
        from idgate.settings import ProxySettings, Settings

        self.proxy = ProxySettings(
            name="app",
            host=HOST.decode(),
            upstream="http://127.0.0.1:1",
            issuer_url="http://idp.test",
            client_id="app",
            client_secret="s",
            encryption_key=b"k" * 32,
            email_domains=("example.com",),
        )
        settings = Settings(proxies=(self.proxy,), session_memo_size=memo_size)
        self.services = build_services([self.proxy], FrozenClock(NOW), None)
        table = RouteTable.build(settings, provider_socket=None, signin_socket=None, services=self.services)
        rules = HeaderRules.of(settings.strip_headers, settings.allow_headers)
        self.state = EdgeState(table, FrozenClock(NOW), EdgeLimits(), EdgeStats(), rules)
        self.client, self.upstream = Wire(), Wire()
        self.conn = EdgeConnection(self.state)
        self.conn.connection_made(self.client)
        _, dep = table.match(HOST, b"/")
        assert dep is not None
        self.target = dep.upstream
        up = UpstreamConnection(self.state.pool, self.target)
        up.connection_made(self.upstream)
        self.state.pool.release(up)  # a kept-alive connection, as after the first request
        self.up = up

    def sealed(self, email: str) -> str:
        from idgate.sessions.base import Session
        from idgate.sessions.cookie_store import CookieSessions

        session = Session(
            user="alice-sub",
            email=email,
            email_verified=True,
            created_at=NOW - 10,
            expires_at=NOW + 3600,
            preferred_username="alice",
            groups=("org", "org:team"),
            sid="Zm9vYmFyYmF6cXV4cXV1eA",
        )
        store = self.services[self.proxy.name].store
        assert isinstance(store, CookieSessions)  # the deployment keeps its sessions in the cookie
        return store.seal(session)

    def forward(self, req: bytes) -> Callable[[], None]:
        conn, up = self.conn, self.up

        def once() -> None:
            conn.data_received(req)
            up.data_received(UPSTREAM_ANSWER)
            self.client.out.clear()
            self.upstream.out.clear()

        return once

    def answer(self, req: bytes) -> Callable[[], None]:
        conn, out = self.conn, self.client.out

        def once() -> None:
            conn.data_received(req)
            out.clear()

        return once

    def check(self, case: str, req: bytes, status: int, forwarded: bool) -> None:
        """One request of ``case``: its status, the identity at the upstream, the connections kept."""
        self.conn.data_received(req)
        sent = self.upstream.written()
        if forwarded:
            assert b"\r\nX-Forwarded-Email: alice@example.com\r\n" in sent, (case, sent[:600])
            self.up.data_received(UPSTREAM_ANSWER)
            assert self.state.pool.idle_count(self.target) == 1, f"{case}: the upstream left the pool"
        else:
            assert not sent, (case, sent[:300])
        answer = self.client.written()
        assert answer.startswith(b"HTTP/1.1 %d " % status), (case, answer[:300])
        if forwarded:
            assert answer.endswith(UPSTREAM_ANSWER[-1024:]), f"{case}: the body was not relayed"
        assert not self.client.closing, f"{case}: the edge closed the connection"


#: A case: one request, and the check of its answer (run before and after the timed requests, so a case
#: that stopped answering -- a connection closed, an upstream lost from the pool -- is not timed as fast).
Case = tuple[Callable[[], None], Callable[[], None]]


def gate_case(memo_size: int) -> Case:
    from idgate.edge.gate import Gate, Verified

    edge = Edge(memo_size)
    gate = Gate(edge.proxy, memo_size=memo_size, services=edge.services[edge.proxy.name])
    sealed = edge.sealed("alice@example.com")

    def once() -> None:
        gate.open(sealed, NOW)

    def check() -> None:
        verified = gate.open(sealed, NOW)
        assert isinstance(verified, Verified) and verified.session.email == "alice@example.com"

    return once, check


def exchange_cases(wanted: set[str]) -> dict[str, Case]:
    """The cases that drive a connection, each on an edge of its own."""
    out: dict[str, Case] = {}
    spec: dict[str, tuple[int, bytes, int, bool]] = {}  # case -> memo size, request, status, forwarded
    probe = Edge(10_000)
    good, bad = probe.sealed("alice@example.com"), probe.sealed("mallory@elsewhere.test")
    spec["forward"] = (10_000, request(b"/api/v1/query?q=up", good), 200, True)
    spec["forward-nomemo"] = (0, request(b"/api/v1/query?q=up", good), 200, True)
    spec["forward-browser"] = (10_000, browser_request(b"/graph?g0.expr=up", good), 200, True)
    spec["login"] = (10_000, request(b"/graph?x=1"), 302, False)
    spec["api401"] = (10_000, request(b"/api/v1/query", accept=b"application/json"), 401, False)
    spec["refused"] = (10_000, request(b"/", bad), 403, False)
    spec["auth202"] = (10_000, request(b"/oauth/auth", good), 202, False)
    spec["auth401"] = (10_000, request(b"/oauth/auth"), 401, False)
    for case, (memo, req, status, forwarded) in spec.items():
        if case not in wanted:
            continue
        edge = Edge(memo)
        once = edge.forward(req) if forwarded else edge.answer(req)
        out[case] = once, functools.partial(edge.check, case, req, status, forwarded)
    return out


async def child_run(requests: int, wanted: list[str]) -> dict[str, float]:
    """CPU nanoseconds per request of each case in ``wanted`` (in this process's idgate)."""
    cases: dict[str, Case] = {}
    if "gate-hit" in wanted:
        cases["gate-hit"] = gate_case(10_000)
    if "gate-miss" in wanted:
        cases["gate-miss"] = gate_case(0)
    cases.update(exchange_cases(set(wanted)))
    out = {}
    for case in wanted:
        once, check = cases[case]
        check()
        n = requests * REPEAT.get(case, 1)
        start = time.process_time()
        for _ in range(n):
            once()
        out[case] = (time.process_time() - start) / n * 1e9
        check()
    return out


def child(requests: int, wanted: list[str], src: str) -> None:
    """The child's part: check it imports idgate from ``src``, run the cases, print JSON."""
    import idgate
    import idgate.edge.connection

    where = Path(idgate.__file__).resolve()
    if not where.is_relative_to(Path(src).resolve()):
        raise SystemExit(f"edge_ab: idgate imported from {where}, not from {src}")
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        result = runner.run(child_run(requests, wanted))
    compiled = sorted(
        name
        for name, mod in sys.modules.items()
        if name.startswith("idgate.") and str(getattr(mod, "__file__", "")).endswith(".so")
    )
    print(json.dumps({"ns": result, "compiled": compiled}))


def run(src: str, requests: int, cases: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}"}
    argv = [sys.executable, "-m", "bench.edge_ab", "--child", src, str(requests), ",".join(cases)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise SystemExit(f"edge_ab: the child for {src} failed:\n{done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(int(sys.argv[3]), sys.argv[4].split(","), sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", help="A: an idgate src/ directory (e.g. build/interpreted/src)")
    ap.add_argument("b", help="B: another (e.g. src, compiled)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20_000, help="requests per case and round")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    args = ap.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = set(cases) - set(CASES)
    if unknown:
        ap.error(f"unknown cases: {', '.join(sorted(unknown))} (known: {', '.join(CASES)})")
    trees = {"A": str(Path(args.a).resolve()), "B": str(Path(args.b).resolve())}
    best: dict[str, dict[str, float]] = {"A": {}, "B": {}}
    compiled: dict[str, list[str]] = {}
    for _ in range(args.rounds):
        for label, src in trees.items():
            got = run(src, args.requests, cases)
            compiled[label] = got["compiled"]
            for case, ns in got["ns"].items():
                best[label][case] = min(ns, best[label].get(case, float("inf")))
    for label, src in trees.items():
        mods = compiled[label]
        print(f"{label}: {src} ({f'{len(mods)} modules compiled' if mods else 'interpreted'})")
    print(f"best of {args.rounds} rounds, CPU ns per request")
    for case in cases:
        a, b = best["A"][case], best["B"][case]
        print(f"{case:16} A {a:8.0f}  B {b:8.0f}  B-A {b - a:+7.0f} ({(b - a) / a:+6.1%})  A/B {a / b:.2f}x")


if __name__ == "__main__":
    main()

"""In-process A/B of the provider's grants: ``POST /token`` without HTTP, on SQLite and on PostgreSQL.

``python -m bench.grants_ab --idgate-src A_SRC [--idgate-src B_SRC] [--storage sqlite,postgres]
[--grant code,refresh] [--rounds 3] [--grants 4000] [--tasks 32] [--sign stub|real] [--processes 1|2]``

Each run is a child process of its own (``PYTHONPATH=<src>``; trees alternate A B A B ...) that builds a
:class:`idgate.provider.core.Provider` as the web app does (the config's client over the storage, the
``local`` connector) on a fresh storage -- a SQLite file in a temporary directory, or a throw-away
PostgreSQL database at 127.0.0.1:5432 (``IDGATE_BENCH_POSTGRES`` names the server's admin URL) -- and
calls ``provider.token_endpoint.answer`` (what both front doors call) from ``--tasks`` tasks until
``--grants`` grants are answered, after a warm-up of 10 % as many. Every answer must be a 200.

- ``code``: codes minted as ``/auth`` would after a login (:func:`bench.provider.mint_idgate_codes`), each
  a different person's first login (``bench/RESULTS.md``'s code exchange row does the same);
- ``refresh``: refresh tokens of :data:`bench.configs.TOKEN_USERS` stored users, from code exchanges made
  before the clock starts, each used once (a refresh asks the ``local`` connector about its user).

``--sign stub`` (the default) answers the ID token's signature at once, so the CPU is what a grant costs
besides the RS256 signature; ``real`` signs on idgate's signing threads. Printed per run and (best of
the rounds for CPU, worst for the tail) per tree:

- CPU µs per grant (``time.process_time``: every thread of the child, the SQLite worker too; not the
  PostgreSQL server's);
- statements per grant: SQLite's, ``BEGIN`` and ``COMMIT`` included (a trace callback on every
  connection); for PostgreSQL, asyncpg's round trips (queries, prepares, ``BEGIN``/``COMMIT``, pings);
- the latency of each grant (p50, p99, max, and a histogram), and for SQLite the operations that went to
  the worker thread (how many, their longest wait) and the WAL checkpoints.

``--processes 2`` runs two children at once on one SQLite file, as ``idgate serve --workers 2`` shares
it (each with its own grants; they start together), for the two-worker tail (``bench/RESULTS.md``,
2026-12-06 point 5).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import os
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.report import table

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = os.environ.get("IDGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
#: Upper bounds (ms) of the latency histogram's buckets; the last bucket is everything above.
BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
RP_SECRET = "grants-ab-" + "s" * 22
PASSWORD_HASH = "$2b$04$" + "." * 53  # never checked: a refresh only asks whether the user still exists


# -- the child: one tree, one storage, one grant -----------------------------------------------------------


class Counts:
    """Statements (SQLite) or round trips (PostgreSQL); for SQLite the worker thread's calls and their
    longest wait, and the longest operation (its statements and any pauses while the file was busy)."""

    def __init__(self) -> None:
        self.statements = 0
        self.worker_calls = 0
        self.worker_wait_max = 0.0
        self.op_max = 0.0
        self.checkpoints = 0

    def restart(self) -> dict[str, float]:
        """The counts so far; the maxima start again."""
        self.worker_wait_max = self.op_max = 0.0
        return dict(vars(self))


COUNTS = Counts()


def _count_sqlite() -> None:
    """Every ``sqlite3`` connection counts the statements it runs (set before storage is opened)."""
    import sqlite3

    connect = sqlite3.connect

    def counted(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)

        def seen(_sql: str) -> None:
            COUNTS.statements += 1
            if "wal_checkpoint" in _sql:
                COUNTS.checkpoints += 1

        conn.set_trace_callback(seen)
        return conn

    sqlite3.connect = counted  # type: ignore[assignment]
    with contextlib.suppress(ImportError, AttributeError, TypeError):  # TypeError: compiled by mypyc
        from idgate.storage.sql.sqlite import SqliteStorage

        in_worker = SqliteStorage._in_worker

        async def timed_worker(self: Any, fn: Any, *args: Any) -> Any:
            started = time.perf_counter()
            try:
                return await in_worker(self, fn, *args)
            finally:
                COUNTS.worker_calls += 1
                COUNTS.worker_wait_max = max(COUNTS.worker_wait_max, time.perf_counter() - started)

        run = SqliteStorage._run

        async def timed_run(self: Any, kind: str, fn: Any, *args: Any) -> Any:
            started = time.perf_counter()
            try:
                return await run(self, kind, fn, *args)
            finally:
                COUNTS.op_max = max(COUNTS.op_max, time.perf_counter() - started)

        SqliteStorage._in_worker = timed_worker  # type: ignore[method-assign]
        SqliteStorage._run = timed_run  # type: ignore[method-assign]


def _count_asyncpg() -> None:
    """asyncpg's round trips: simple queries (``BEGIN``, ``COMMIT``), bound executions, prepares."""
    import asyncpg  # type: ignore[import-untyped]
    from asyncpg.prepared_stmt import PreparedStatement  # type: ignore[import-untyped]

    def wrap(cls: Any, name: str, when: Callable[..., bool] = lambda *a, **k: True) -> None:
        original = getattr(cls, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            if when(*args, **kwargs):
                COUNTS.statements += 1
            return await original(*args, **kwargs)

        setattr(cls, name, counted)

    conn = asyncpg.connection.Connection
    wrap(conn, "execute", lambda self, query, *args, **kw: not args)  # with args it goes to _execute
    for name in ("_execute", "_executemany", "prepare"):
        wrap(conn, name)
    for name in ("fetch", "fetchrow", "fetchval", "executemany"):
        wrap(PreparedStatement, name)


def _params(body: str) -> dict[str, list[str]]:
    """The form's fields as the edge's token lane reads them."""
    from idgate.provider.token_lane import form_params

    return form_params(body.encode())


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class _Unsigned:
    """Stands in for the signing threads (``--sign stub``): the hand-off lets the loop run others, as
    the real one does, and the signature is a constant."""

    async def run(self, fn: Any, *args: Any) -> str:
        await asyncio.sleep(0)
        return "stub.signature.jwt"


async def _provider(url: str, sign: str) -> tuple[Any, Any]:
    from bench.configs import BENCH_REDIRECT
    from idgate.clock import SystemClock
    from idgate.connectors.local import LocalConnector
    from idgate.provider.core import Provider, with_static
    from idgate.settings import ClientSettings, ProviderSettings
    from idgate.storage import open_storage

    settings = ProviderSettings(
        issuer="http://kkp.localhost/dex",
        clients=(ClientSettings(id="rp", secret=RP_SECRET, name="RP", redirect_uris=(BENCH_REDIRECT,)),),
    )
    storage = await open_storage(url)
    layered = with_static(storage, settings)
    provider = Provider(settings, layered, SystemClock(), {"local": LocalConnector(layered)})
    await provider.keys.current()
    if sign == "stub":
        from idgate.provider import tokens

        tokens._SIGNING = _Unsigned()  # type: ignore[assignment] # a bench's stand-in for the signing pool
    return provider, storage


LOOP_LAG = [0.0]
#: The longest collection of Python's cyclic garbage collector during the run (s), and its start.
GC_PAUSE = [0.0, 0.0]


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        GC_PAUSE[1] = time.perf_counter()
    else:
        GC_PAUSE[0] = max(GC_PAUSE[0], time.perf_counter() - GC_PAUSE[1])


async def _loop_lag() -> None:
    """The longest the event loop was late for a 1 ms timer (how long it was held by one call)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + 0.001
        await asyncio.sleep(0.001)
        LOOP_LAG[0] = max(LOOP_LAG[0], loop.time() - due)


async def _answer_all(
    call: Callable[[str], Awaitable[tuple[int, bytes]]], bodies: list[str], tasks: int
) -> tuple[list[float], list[bytes], int]:
    """Every body answered by ``tasks`` tasks: each grant's latency (s), the answers, the failures."""
    latencies: list[float] = []
    answers: list[bytes] = []
    failed = 0
    queue: Iterator[str] = iter(bodies)

    async def worker() -> None:
        nonlocal failed
        for body in queue:
            started = time.perf_counter()
            status, answer = await call(body)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                failed += 1
                if failed <= 3:
                    print(f"grants_ab: {status} {answer[:200]!r}", file=sys.stderr)
            answers.append(answer)

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return latencies, answers, failed


async def child(
    url: str, grant: str, *, grants: int, tasks: int, sign: str, wait: bool, profile: str = ""
) -> dict[str, Any]:
    """One measured run: ``grants`` grants of kind ``grant`` on ``url`` by ``tasks`` tasks."""
    from bench.configs import TOKEN_USERS, add_token_users
    from bench.provider import basic_auth, code_bodies, mint_idgate_codes, refresh_bodies

    (_count_asyncpg if url.startswith("postgres") else _count_sqlite)()
    provider, storage = await _provider(url, sign)
    auth = basic_auth("rp", RP_SECRET)

    async def call(body: str) -> tuple[int, bytes]:
        found = await provider.token_endpoint.answer(auth, _params(body))
        return found.status, found.body

    warm = max(grants // 10, 1)
    if grant == "code":
        bodies = code_bodies(await mint_idgate_codes(url, warm + grants, known_users=False))
    else:
        with contextlib.suppress(Exception):  # another process of a two-process run added them
            await add_token_users(url, PASSWORD_HASH)
        if warm + grants > TOKEN_USERS * 9:
            raise SystemExit(f"grants_ab: at most {TOKEN_USERS * 9} refresh grants per run")
        codes = await mint_idgate_codes(url, warm + grants, known_users=True)
        _, answers, failed = await _answer_all(call, code_bodies(codes), tasks)
        if failed:
            raise SystemExit("grants_ab: the code exchanges before the refresh run failed")
        bodies = refresh_bodies([json.loads(a)["refresh_token"] for a in answers])
    await _answer_all(call, bodies[:warm], tasks)
    if wait:  # two processes: both are ready before either starts
        print("ready", flush=True)
        sys.stdin.readline()
    start = COUNTS.restart()
    profiler = cProfile.Profile() if profile else None
    lag = asyncio.get_running_loop().create_task(_loop_lag())
    gc.callbacks.append(_gc_timer)
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    latencies, _, failed = await _answer_all(call, bodies[warm:], tasks)
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    lag.cancel()
    gc.callbacks.remove(_gc_timer)
    done = {k: v if k.endswith("_max") else v - start[k] for k, v in vars(COUNTS).items()}
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(profile).print_stats(40)
    await storage.close()
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    histogram = [
        sum(1 for x in ms if (lo < x <= hi)) for lo, hi in zip((0, *BUCKETS_MS), BUCKETS_MS, strict=False)
    ]
    histogram.append(sum(1 for x in ms if x > BUCKETS_MS[-1]))
    return {
        "grants": len(latencies),
        "failed": failed,
        "cpu_us": cpu / len(latencies) * 1e6,
        "per_second": len(latencies) / wall,
        "statements": done["statements"] / len(latencies),
        "p50_ms": statistics.median(ms),
        "p99_ms": _percentile(ms, 0.99),
        "max_ms": ms[-1],
        "histogram": histogram,
        "worker_calls": done["worker_calls"],
        "worker_wait_max_ms": done["worker_wait_max"] * 1000,
        "op_max_ms": done["op_max"] * 1000,
        "loop_lag_max_ms": LOOP_LAG[0] * 1000,
        "gc_max_ms": GC_PAUSE[0] * 1000,
        "checkpoints": done["checkpoints"],
    }


# -- the parent: storages, trees, rounds -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A throw-away database on the bench's PostgreSQL server, dropped afterwards."""
    import asyncpg

    name = f"idgate_grants_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_ADMIN, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.contextmanager
def sqlite_file() -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix="grants-ab-")
    try:
        yield f"sqlite:///{tmp}/idgate.db"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _child_argv(url: str, args: argparse.Namespace, grant: str, wait: bool) -> list[str]:
    argv = [sys.executable, "-m", "bench.grants_ab", "--child", url, "--grant", grant]
    argv += ["--grants", str(args.grants), "--tasks", str(args.tasks), "--sign", args.sign]
    return argv + (["--wait"] if wait else [])


def run_children(src: str, url: str, args: argparse.Namespace, grant: str) -> list[dict[str, Any]]:
    """``--processes`` children of tree ``src`` on ``url`` at once; each one's measurement."""
    path = [src, str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    together = args.processes > 1
    children = [
        subprocess.Popen(  # noqa: S603 - this interpreter, this module
            _child_argv(url, args, grant, together),
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.processes)
    ]
    try:
        if together:
            for c in children:
                assert c.stdout is not None
                if c.stdout.readline().strip() != "ready":
                    raise SystemExit("grants_ab: a child failed before the start")
            for c in children:
                assert c.stdin is not None
                c.stdin.write("go\n")
                c.stdin.flush()
        out = []
        for c in children:
            stdout, _ = c.communicate()
            if c.returncode != 0:
                raise SystemExit(f"grants_ab: a child failed ({c.returncode})")
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()


async def _with_storage(kind: str, fn: Callable[[str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    if kind == "postgres":
        async with postgres_database() as url:
            return await asyncio.to_thread(fn, url)
    with sqlite_file() as url:
        return fn(url)


def _row(label: str, runs: list[dict[str, Any]]) -> list[str]:
    """Best CPU and statements of the runs, worst tail, failures added up."""
    return [
        label,
        f"{min(r['cpu_us'] for r in runs):.0f}",
        f"{min(r['statements'] for r in runs):.2f}",
        f"{statistics.median(r['per_second'] for r in runs):,.0f}",
        f"{statistics.median(r['p50_ms'] for r in runs):.2f}",
        f"{max(r['p99_ms'] for r in runs):.2f}",
        f"{max(r['max_ms'] for r in runs):.1f}",
        f"{max(r['op_max_ms'] for r in runs):.1f}",
        f"{max(r['loop_lag_max_ms'] for r in runs):.1f} / {max(r['gc_max_ms'] for r in runs):.1f}",
        f"{max(r['worker_wait_max_ms'] for r in runs):.1f} ({sum(r['worker_calls'] for r in runs)})",
        str(sum(r["failed"] for r in runs)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idgate-src", action="append", default=[], help="a src/ directory (A, then B)")
    ap.add_argument("--storage", default="sqlite,postgres", help="comma list: sqlite, postgres")
    ap.add_argument("--grant", default="code,refresh", help="comma list: code, refresh")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--grants", type=int, default=4000)
    ap.add_argument("--tasks", type=int, default=32)
    ap.add_argument("--sign", choices=("stub", "real"), default="stub")
    ap.add_argument("--processes", type=int, default=1, help="children at once on one storage")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--wait", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--profile", default="", help="with --child: cProfile the measured grants, sorted by this"
    )
    args = ap.parse_args()
    if args.child:
        result = asyncio.run(
            child(
                args.child,
                args.grant,
                grants=args.grants,
                tasks=args.tasks,
                sign=args.sign,
                wait=args.wait,
                profile=args.profile,
            )
        )
        print(json.dumps(result))
        return
    trees = [str(Path(s).resolve()) for s in args.idgate_src] or [str(ROOT / "src")]
    for src in trees:
        if not (Path(src) / "idgate" / "__init__.py").is_file():
            sys.exit(f"grants_ab: --idgate-src {src}: no idgate package there (give the src/ directory)")
    labels = {src: "AB"[i] if len(trees) > 1 else "" for i, src in enumerate(trees)}
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for _ in range(args.rounds):
        for kind in args.storage.split(","):
            for grant in args.grant.split(","):
                for src in trees:
                    found = asyncio.run(
                        _with_storage(kind, lambda url, s=src, g=grant: run_children(s, url, args, g))
                    )
                    runs.setdefault((kind, grant, src), []).extend(found)
                    r = found[0]
                    print(
                        f"{kind:8} {grant:7} {labels[src]:1} {r['cpu_us']:6.0f} µs {r['statements']:5.2f} st "
                        f"p99 {r['p99_ms']:7.2f} ms max {r['max_ms']:7.1f} ms",
                        file=sys.stderr,
                    )
    headers = ["storage, grant, tree", "CPU µs", "statements", "grants/s", "p50 ms", "p99 ms", "max ms",
               "longest storage op ms", "loop lag / GC ms", "worker wait ms (calls)", "failed"]  # fmt: skip
    rows = [_row(f"{k} {g} {labels[s]}".strip(), r) for (k, g, s), r in runs.items()]
    print(table(headers, rows))
    print(f"\nlatency histogram (ms, upper bounds {BUCKETS_MS}, then above), all runs of each:")
    for (k, g, s), r in runs.items():
        total = [sum(h) for h in zip(*(x["histogram"] for x in r), strict=True)]
        print(f"  {k} {g} {labels[s]}: {total}")


if __name__ == "__main__":
    main()

"""The bench's run: start every server on loopback, sign in, measure each configuration (A B A B), report.

``python -m bench [--quick] [--soak] [--profile] [--only proxy,tls,provider,logins]``; see ``bench/README.md``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import http.client
import math
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import bcrypt
import yaml

from bench import configs, cpu, environment, login, logs, provider, report
from bench.processes import Proc, Supervisor, free_port, wait_port
from bench.report import Sample, Summary
from bench.results import Measured, write_report
from bench.targets import (
    APACHE_CC,
    APACHE_SC,
    APACHE_TLS,
    BROWSER,
    LOGGED,
    MEMO,
    NGINX,
    NGINX_TLS,
    REDIS_SESSIONS,
)
from bench.wrk import WrkResult, run_wrk, wrk_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: seconds for requests still in flight when wrk stops to finish (before Redis commands are counted)
SETTLE = 0.3


@dataclass(frozen=True)
class Variant:
    """One idgate instance of the proxy rows: ``idgate serve --workers N``, the session memo on or off,
    access logs off (``IDGATE_LOG_LEVEL=WARNING``) or idgate's default logging (INFO, text, on stderr)."""

    workers: int
    memo: bool
    logs: bool = False

    @property
    def row(self) -> str:
        """The name of its cookie-session row in the proxy table."""
        workers = f"{self.workers} worker{'s' if self.workers > 1 else ''}"
        name = f"idgate proxy, cookie session, {workers}, memo {'on' if self.memo else 'off'}"
        return name + (LOGGED if self.logs else "")

    def env(self) -> dict[str, str]:
        """The environment it runs with: the log level and format said explicitly (INFO and text are
        idgate's defaults), so the bench's own environment cannot change them; unbuffered as in the image."""
        level = "INFO" if self.logs else "WARNING"
        return {"IDGATE_LOG_LEVEL": level, "IDGATE_LOG_FORMAT": "text", "PYTHONUNBUFFERED": "1"}


IDGATE_VARIANTS = {
    "idgate-1w": Variant(1, memo=True),
    "idgate-1w-nomemo": Variant(1, memo=False),
    "idgate-2w": Variant(2, memo=True),
    "idgate-2w-nomemo": Variant(2, memo=False),
}
#: The default-logging rows' idgate instances (the full proxy table only).
LOGGED_VARIANTS = {
    "idgate-1w-log": Variant(1, memo=True, logs=True),
    "idgate-1w-nomemo-log": Variant(1, memo=False, logs=True),
}
VARIANTS = {**IDGATE_VARIANTS, **LOGGED_VARIANTS}
TLS_VARIANTS = {"idgate-tls-1w": Variant(1, memo=True), "idgate-tls-1w-nomemo": Variant(1, memo=False)}


@dataclass(frozen=True)
class Options:
    quick: bool = False
    seconds: float = 10.0
    warmup: float = 2.0
    rounds: int = 2
    connections: int = 32
    only: frozenset[str] = frozenset({"proxy", "tls", "provider", "logins"})
    soak: bool = False
    soak_seconds: float = 600.0
    soak_fraction: float = 0.8
    profile: bool = False
    out: Path = HERE / "RESULTS.md"
    note: str = ""

    @classmethod
    def quick_mode(cls) -> Options:
        return cls(quick=True, seconds=2.0, warmup=1.0, rounds=1, out=HERE / ".quick-results.md")


@dataclass
class Config:
    """One thing wrk hammers: where, with which headers, whose CPU counts, what a good answer is."""

    name: str
    port: int
    path: str
    headers: list[str]
    roots: Callable[[], list[int]]  # process trees whose CPU is this configuration's cost
    expect: int = 200
    expect_bytes: int | None = configs.BODY_BYTES
    note: str = ""
    redis_port: int = 0  # count this redis-server's commands per request (0: none)
    sessions: Path | None = None  # Cookie headers, one per line, taken in turn (sessions.lua)
    tls: Path | None = None  # https, serving this certificate (the preflight checks it is the one served)
    log: logs.LogFile | None = None  # the measured server's log: its lines per request are checked


@dataclass
class Stack:
    tmp: Path
    sup: Supervisor
    sec: configs.Secrets
    ports: configs.Ports
    procs: dict[str, Proc] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    tls: configs.Certificate | None = None  # the TLS rows' certificate (None: no TLS rows)
    idle_rss: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return f"http://{configs.PROVIDER_HOST}:{self.ports.issuer_port}/dex"

    @property
    def app_host(self) -> str:
        return f"{configs.APP_HOST}:{self.ports.issuer_port}"

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def trees(self, *names: str) -> Callable[[], list[int]]:
        """The root pids of ``names``' process trees, looked up when measured."""
        return lambda: [self.pid(n) for n in names]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- starting things ---------------------------------------------------------------------------------


def metrics_args() -> list[str]:
    """Each idgate instance its own free metrics port (trees with ``idgate.metrics_listen``, default
    127.0.0.1:9180, which several instances -- or another engineer's tests -- cannot all bind)."""
    try:
        from idgate.config.server import IdgateSection
    except ImportError:
        return []
    if "metrics_listen" not in IdgateSection.model_fields:
        return []
    return ["--set", f"idgate.metrics_listen=127.0.0.1:{free_port()}"]


def memo_off(env: dict[str, str]) -> list[str]:
    """Turn the per-process memo of verified cookies off: ``idgate.session_memo_size=0``, or, for a tree
    from before that key (an A/B against an older commit), the environment variable it read then."""
    from idgate.config.server import IdgateSection

    if "session_memo_size" in IdgateSection.model_fields:
        return ["--set", "idgate.session_memo_size=0"]
    env["IDGATE_SESSION_MEMO_SIZE"] = "0"
    return []


def start_stack(
    tmp: Path,
    sup: Supervisor,
    opts: Options,
    *,
    apache: bool,
    node: bool,
    variants: Sequence[str],
    tls: bool = False,
) -> Stack:
    """Upstream nginx, nginx proxy, idgate variants, Apache (both session types), oidc-provider; sessions.
    With ``apache`` (the full proxy table), the default-logging rows' servers too: nginx, Apache
    (server-cache) and idgate (:data:`LOGGED_VARIANTS`) writing their default logs. With ``tls``, the TLS
    rows' servers: nginx, Apache (server-cache) and idgate, one certificate."""
    sec = configs.Secrets()
    if apache:
        variants = [*variants, *LOGGED_VARIANTS]
    ports = configs.Ports(
        upstream=free_port(),
        nginx_proxy=free_port(),
        idgate={v: free_port() for v in variants},
        apache={t: free_port() for t in (("server-cache", "client-cookie") if apache else ())},
        oidc_provider=free_port(),
        redis=free_port() if apache else 0,  # the full proxy table has Redis-session rows
        nginx_log=free_port() if apache else 0,
        apache_log=free_port() if apache else 0,
    )
    st = Stack(tmp, sup, sec, ports)
    if tls:
        plan_tls(st)
    os.chmod(tmp, 0o755)  # nginx and Apache children run as unprivileged users
    (tmp / "www").mkdir()
    (tmp / "www" / "file.bin").write_bytes(b"x" * (configs.BODY_BYTES - 1) + b"\n")
    start_redis(st)
    start_nginx(st, "upstream", configs.upstream_nginx_conf(tmp, ports.upstream), ports.upstream)
    for name, port, tls_cert, logged in (
        ("nginx-proxy", ports.nginx_proxy, None, False),
        ("nginx-tls", ports.nginx_tls, st.tls, False),
        ("nginx-proxy-log", ports.nginx_log, None, True),
    ):
        if port:
            conf = configs.proxy_nginx_conf(tmp, port, ports.upstream, tls=tls_cert, logs=logged)
            start_nginx(st, name, conf, port)

    log("hashing the bench user's password (bcrypt cost 10)")
    values = tmp / "values.yaml"
    password_hash = sec.password_hash(10)
    configs.write_values(values, configs.idgate_values(tmp, ports, sec, password_hash))
    (tmp / "idgate-data").mkdir()
    asyncio.run(configs.add_token_users(configs.storage_url(tmp), password_hash))
    for variant in variants:
        start_idgate(st, variant, VARIANTS[variant], values, ports.idgate[variant])
    start_idgate_tls(st, values)
    first = variants[0]
    log(f"signing in through idgate's proxy ({first})")
    st.cookies["idgate"] = asyncio.run(login.browser_login(f"http://{st.app_host}/", sec.password))
    sign_in_redis(st)
    if apache:  # the full proxy table: the floor of the design, and nginx in front running `idgate render
        # nginx` with its cache of 202s on (the default) and off
        start_floors(st, values)
        start_rendered_nginx(st, values, ports.idgate[first])
    start_apaches(st)

    if node:
        st.procs["oidc-provider"] = sup.start(
            "oidc-provider",
            [
                "node",
                str(HERE / "oidc_provider.mjs"),
                str(ports.oidc_provider),
                sec.rp_secret,
                configs.BENCH_REDIRECT,
                sec.user_id,
                configs.EMAIL,
            ],
            cwd=ROOT,
        )
        wait_port(ports.oidc_provider, st.procs["oidc-provider"])
    time.sleep(1.0)
    st.idle_rss = {name: cpu.tree_rss_kb(p.pid) for name, p in st.procs.items()}
    return st


def run_dir(st: Stack, name: str) -> Path:
    """The directory of nginx or Apache run ``name``, owned by the user their children run as."""
    path = st.tmp / name
    path.mkdir(exist_ok=True)
    shutil.chown(path, "www-data", "www-data")
    return path


def start_nginx(st: Stack, name: str, text: str, port: int) -> None:
    """nginx run ``name`` with configuration ``text``, in its directory, listening on ``port``."""
    conf = run_dir(st, name) / "nginx.conf"
    conf.write_text(text)
    st.procs[name] = st.sup.start(name, ["nginx", "-c", str(conf), "-p", str(conf.parent)])
    wait_port(port, st.procs[name])


def start_rendered_nginx(st: Stack, values: Path, idgate_port: int) -> None:
    """nginx running what ``idgate render nginx`` writes for ``values`` (``auth_request`` to idgate on
    ``idgate_port``), its cache of 202s on (5 s, the default) and off."""
    st.ports.nginx_auth, st.ports.nginx_auth_nocache = free_port(), free_port()
    for name, port, cache_seconds in (
        ("nginx-auth", st.ports.nginx_auth, 5),
        ("nginx-auth-nocache", st.ports.nginx_auth_nocache, 0),
    ):
        conf = configs.rendered_nginx_conf(
            values, run_dir(st, name), port, idgate_port, cache_seconds=cache_seconds
        )
        start_nginx(st, name, conf, port)


def start_idgate(st: Stack, name: str, variant: Variant, values: Path, port: int) -> None:
    """``idgate serve`` as ``variant`` says, on ``port``; its stdout and stderr go to ``<name>.log`` in the
    bench's directory (where a default-logging row's lines are counted)."""
    env = variant.env()
    argv = [sys.executable, "-m", "idgate", "serve", "--config", str(values), "--listen", f"127.0.0.1:{port}"]
    argv += ["--workers", str(variant.workers), *([] if variant.memo else memo_off(env)), *metrics_args()]
    st.procs[name] = st.sup.start(name, argv, env=env, cwd=st.tmp)
    wait_port(port, st.procs[name])


def plan_tls(st: Stack) -> None:
    """Ports for the TLS rows' servers, and their certificate."""
    st.ports.nginx_tls, st.ports.apache_tls = free_port(), free_port()
    st.ports.idgate_tls = {v: free_port() for v in TLS_VARIANTS}
    st.tls = configs.make_certificate(st.tmp)


def start_idgate_tls(st: Stack, values: Path) -> None:
    """idgate with ``idgate.tls`` (the bench's certificate), 1 worker, memo on and off, when there are TLS
    rows: the plain rows' ``values`` otherwise, so the plain sign-in's cookie (the same deployment and
    key) is good here too."""
    if st.tls is None:
        return
    path = st.tmp / "values-tls.yaml"
    configs.write_values(path, configs.tls_values(yaml.safe_load(values.read_text()), st.tls))
    for name, port in st.ports.idgate_tls.items():
        start_idgate(st, name, TLS_VARIANTS[name], path, port)


def start_apaches(st: Stack) -> None:
    """Apache + mod_auth_openidc for each session type (and server-cache with TLS for the TLS rows, and
    with Debian's access log for the default-logging rows), each with a session from a scripted login."""
    runs: list[tuple[str, int, configs.Certificate | None, bool]] = [
        (t, p, None, False) for t, p in st.ports.apache.items()
    ]
    if st.tls:
        runs.append(("server-cache", st.ports.apache_tls, st.tls, False))
    if st.ports.apache_log:
        runs.append(("server-cache", st.ports.apache_log, None, True))
    for session_type, port, tls, with_logs in runs:
        name = configs.apache_name(session_type, tls=tls is not None, logs=with_logs)
        conf = run_dir(st, name) / "apache.conf"
        conf.write_text(
            configs.apache_conf(
                st.tmp,
                session_type=session_type,
                port=port,
                upstream_port=st.ports.upstream,
                issuer=st.issuer,
                client_secret=st.sec.apache_secret,
                passphrase=st.sec.crypto_passphrase,
                tls=tls,
                logs=with_logs,
            )
        )
        st.procs[name] = st.sup.start(name, ["apache2", "-f", str(conf), "-DFOREGROUND"])
        wait_port(port, st.procs[name])
        log(f"signing in through Apache + mod_auth_openidc ({name.removeprefix('apache-')})")
        scheme = "https" if tls else "http"
        st.cookies[name] = asyncio.run(
            login.browser_login(
                f"{scheme}://{configs.APACHE_HOST}:{port}/",
                st.sec.password,
                ssl=client_context(tls.cert) if tls else None,
            )
        )


def client_context(cert: Path) -> ssl.SSLContext:
    """A client that trusts only the bench's certificate (self-signed: 127.0.0.1 and the bench's names)."""
    return ssl.create_default_context(cafile=str(cert))


def start_redis(st: Stack) -> None:
    """A redis-server of its own (no persistence) for the Redis-sessions deployment, when there is one."""
    port = st.ports.redis
    if port:
        st.procs["redis"] = st.sup.start("redis", configs.redis_argv(port, st.tmp))
        wait_port(port, st.procs["redis"])


def sign_in_redis(st: Stack) -> None:
    """``REDIS_SESSIONS`` sessions of the Redis deployment, one per line of ``redis-sessions.txt``."""
    if st.ports.redis:
        log(f"signing in through idgate's proxy, Redis sessions, {REDIS_SESSIONS} times")
        url = f"http://{configs.REDIS_APP_HOST}:{st.ports.issuer_port}/"
        cookies = [asyncio.run(login.browser_login(url, st.sec.password)) for _ in range(REDIS_SESSIONS)]
        st.cookies["idgate-redis"] = cookies[0]
        (st.tmp / "redis-sessions.txt").write_text("".join(c + "\n" for c in cookies))


def start_floors(st: Stack, values: Path) -> None:
    """bench/floor.py, memo on and off, for the deployment of ``values`` (idgate's session cookie opens)."""
    for name, flag in (("floor", []), ("floor-nomemo", ["--no-memo"])):
        st.ports.floor[name] = port = free_port()
        argv = [sys.executable, "-m", "bench.floor", str(values), str(port), str(st.ports.upstream), *flag]
        st.procs[name] = st.sup.start(name, argv, cwd=ROOT)
        wait_port(port, st.procs[name])


# -- measuring -----------------------------------------------------------------------------------------


def preflight(c: Config) -> str:
    """One request like wrk's: the session must be good (wrk counts a 302 to the login as success). Over
    TLS, the bench's certificate must be the one served; returns what was negotiated ("TLSv1.3,
    TLS_AES_256_GCM_SHA384"), else ""."""
    conn = (
        http.client.HTTPSConnection("127.0.0.1", c.port, timeout=10, context=client_context(c.tls))
        if c.tls
        else http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    )
    negotiated = ""
    try:
        headers = dict(h.split(": ", 1) for h in c.headers)
        conn.request("GET", c.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if c.tls and isinstance(conn.sock, ssl.SSLSocket):
            cipher = conn.sock.cipher()
            negotiated = f"{conn.sock.version()}, {cipher[0] if cipher else '?'}"
    finally:
        conn.close()
    if resp.status != c.expect or (c.expect_bytes is not None and len(body) != c.expect_bytes):
        raise RuntimeError(
            f"{c.name}: expected {c.expect} with {c.expect_bytes} bytes, got {resp.status} "
            f"with {len(body)} bytes: {body[:200]!r}"
        )
    return negotiated


def wrk_for(c: Config, seconds: float, opts: Options) -> list[str]:
    url = f"{'https' if c.tls else 'http'}://127.0.0.1:{c.port}{c.path}"
    if c.sessions is None:
        return wrk_command(url, seconds=seconds, connections=opts.connections, headers=c.headers)
    headers = [h for h in c.headers if not h.startswith("Cookie:")]  # sessions.lua sets one per request
    return wrk_command(
        url,
        seconds=seconds,
        connections=opts.connections,
        headers=headers,
        script=HERE / "sessions.lua",
        script_args=[str(c.sessions)],
    )


def measure(c: Config, opts: Options) -> Sample:
    """One run of ``c`` after its warm-up. A default-logging row is given :data:`logs.FLUSH_SECONDS`
    after each, so its file and its CPU count the run's own lines (all of them) and not the warm-up's; a
    row whose log did not get them raises :class:`logs.LogsNotWritten`."""
    batched = c.log is not None and c.log.on
    if opts.warmup > 0:
        run_wrk(wrk_for(c, opts.warmup, opts), opts.warmup)
    roots = c.roots()
    if c.redis_port:
        time.sleep(SETTLE)  # the warm-up's last requests read their sessions before the count starts
    if batched:
        time.sleep(logs.FLUSH_SECONDS)
    log_start = logs.size(c.log.path) if c.log else 0
    commands = redis_commands(c.redis_port) if c.redis_port else 0
    before = cpu.cpu_ticks(roots)
    result = run_wrk(wrk_for(c, opts.seconds, opts), opts.seconds)
    if batched:
        time.sleep(logs.FLUSH_SECONDS)
    ticks = cpu.cpu_ticks(roots) - before
    per_request = None
    if c.redis_port and result.requests:
        # wrk stops with a request in flight on each connection, uncounted, that the server did read a
        # session for: those are requests too.
        time.sleep(SETTLE)
        served = result.requests + opts.connections
        per_request = (redis_commands(c.redis_port) - commands) / served
    lines = size = None
    if c.log is not None:
        written = logs.written_since(c.log.path, log_start)
        logs.check(c.name, c.log, written, result.requests)
        if c.log.on:
            lines, size = written.per_request(result.requests)
    sample = Sample(result, cpu.us_per_request(ticks, result.requests), per_request, lines, size)
    log(
        f"  {c.name}: {result.rps:,.0f} req/s p50/p99 {report.fmt_ms(result.p50_ms, result.p99_ms)} ms "
        f"cpu {sample.cpu_us and round(sample.cpu_us, 1)} µs/req errors {result.errors}"
        + (f" Redis commands/req {per_request:.5f}" if per_request is not None else "")
        + (f" log lines/req {lines:.2f}" if lines is not None else "")
    )
    return sample


#: What a client says to set up or look at its connection, not session work (``INFO commandstats`` names).
REDIS_SETUP = frozenset({"hello", "client", "info", "ping", "select", "auth", "command"})


def redis_commands(port: int) -> int:
    """The session commands a redis-server has run so far: ``INFO commandstats`` without
    :data:`REDIS_SETUP` (a connection the client opens mid-run says HELLO and CLIENT SETINFO; the bench's
    own INFO is not a session's either)."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return sum(
        int(v["calls"])
        for k, v in stats.items()
        if k.removeprefix("cmdstat_").split("|")[0] not in REDIS_SETUP
    )


def alternate(configs_: Sequence[Config], opts: Options) -> list[Summary]:
    """Every configuration once per round, rounds repeated: A B C A B C."""
    samples: dict[str, list[Sample]] = {c.name: [] for c in configs_}
    notes = {c.name: "; ".join(n for n in (preflight(c), c.note) if n) for c in configs_}
    for r in range(opts.rounds):
        log(f"round {r + 1}/{opts.rounds}")
        for c in configs_:
            samples[c.name].append(measure(c, opts))
    return [report.summarise(c.name, samples[c.name], notes[c.name]) for c in configs_]


def browser_like(cfgs: Sequence[Config]) -> list[Config]:
    """nginx, Apache (server-cache) and idgate (1 worker, memo) again, with a browser's headers."""
    wanted = (NGINX, APACHE_SC, MEMO)
    return [
        dataclasses.replace(c, name=c.name + BROWSER, headers=[*c.headers, *configs.BROWSER_HEADERS])
        for c in cfgs
        if c.name in wanted
    ]


def proxy_configs(st: Stack) -> list[Config]:
    cfgs = [
        Config(
            "direct to upstream (nginx, 1 worker, 1 KiB file)",
            st.ports.upstream,
            "/",
            [],
            st.trees("upstream"),
            note="ceiling of wrk + nginx here",
        ),
        Config(NGINX, st.ports.nginx_proxy, "/", [], st.trees("nginx-proxy")),
    ]
    for session_type, port in st.ports.apache.items():
        name = f"apache-{session_type}"
        cfgs.append(
            Config(
                APACHE_SC if session_type == "server-cache" else APACHE_CC,
                port,
                "/",
                [f"Host: {configs.APACHE_HOST}:{port}", f"Cookie: {st.cookies[name]}"],
                st.trees(name),
            )
        )
    cfgs += [idgate_row(st, name) for name in IDGATE_VARIANTS if name in st.ports.idgate]
    cfgs += browser_like(cfgs)
    cfgs += logged_configs(st)
    if "idgate-redis" in st.cookies:
        for variant in ("idgate-1w", "idgate-1w-nomemo"):
            if variant in st.ports.idgate:
                memo = IDGATE_VARIANTS[variant].memo
                cfgs.append(
                    Config(
                        f"idgate proxy, Redis sessions, 1 worker, memo {'on' if memo else 'off'}",
                        st.ports.idgate[variant],
                        "/",
                        [
                            f"Host: {configs.REDIS_APP_HOST}:{st.ports.issuer_port}",
                            f"Cookie: {st.cookies['idgate-redis']}",
                        ],
                        st.trees(variant, "redis"),
                        note=f"CPU: idgate + redis-server; {REDIS_SESSIONS} sessions taken in turn",
                        redis_port=st.ports.redis,
                        sessions=st.tmp / "redis-sessions.txt",
                    )
                )
    for name, port in st.ports.floor.items():
        cfgs.append(
            Config(
                f"floor: minimal Python proxy, same cookie check, memo {'off' if 'nomemo' in name else 'on'}",
                port,
                "/",
                [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"],
                st.trees(name),
                note="bench/floor.py: what this design costs at least",
            )
        )
    for name, port, cache in (
        ("nginx-auth", st.ports.nginx_auth, "202s cached 5 s"),
        ("nginx-auth-nocache", st.ports.nginx_auth_nocache, "no cache"),
    ):
        if name in st.procs:
            cfgs.append(
                Config(
                    f"nginx (rendered, {cache}) → idgate /oauth/auth (1 worker), then proxy_pass",
                    port,
                    "/",
                    [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"],
                    st.trees(name, "idgate-1w"),
                    note="CPU: nginx + idgate",
                )
            )
    for variant in ("idgate-1w", "idgate-2w"):
        if variant in st.ports.idgate:
            workers = IDGATE_VARIANTS[variant].workers
            cfgs.append(
                Config(
                    f"idgate /oauth/auth (nginx auth_request answer), {workers} "
                    f"worker{'s' if workers > 1 else ''}",
                    st.ports.idgate[variant],
                    "/oauth/auth",
                    [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"],
                    st.trees(variant),
                    expect=202,
                    expect_bytes=0,
                )
            )
    return cfgs


def idgate_row(st: Stack, name: str) -> Config:
    """The cookie-session row of idgate instance ``name``; its stderr is checked to hold the lines of
    its requests (default logging) or none (logs off)."""
    variant = VARIANTS[name]
    return Config(
        variant.row,
        st.ports.idgate[name],
        "/",
        [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"],
        st.trees(name),
        log=logs.LogFile(st.procs[name].log, on=variant.logs),
    )


def logged_configs(st: Stack) -> list[Config]:
    """The default-logging rows: nginx ``proxy_pass``, Apache + mod_auth_openidc (server-cache) and idgate
    (1 worker, memo on and off), each logging as it does out of the box, to a file."""
    if not st.ports.nginx_log:
        return []
    apache = configs.apache_name("server-cache", logs=True)
    return [
        Config(
            NGINX + LOGGED,
            st.ports.nginx_log,
            "/",
            [],
            st.trees("nginx-proxy-log"),
            log=logs.LogFile(configs.access_log_path(st.tmp, "nginx-proxy-log")),
        ),
        Config(
            APACHE_SC + LOGGED,
            st.ports.apache_log,
            "/",
            [f"Host: {configs.APACHE_HOST}:{st.ports.apache_log}", f"Cookie: {st.cookies[apache]}"],
            st.trees(apache),
            log=logs.LogFile(configs.access_log_path(st.tmp, apache)),
        ),
        *(idgate_row(st, name) for name in LOGGED_VARIANTS),
    ]


def tls_configs(st: Stack) -> list[Config]:
    """The TLS rows: nginx, Apache + mod_auth_openidc (server-cache) and idgate (1 worker, memo on and
    off), each serving the bench's certificate on an https listener, wrk on keep-alive connections."""
    assert st.tls is not None
    idgate_headers = [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"]
    cfgs = [
        Config(NGINX_TLS, st.ports.nginx_tls, "/", [], st.trees("nginx-tls"), tls=st.tls.cert),
        Config(
            APACHE_TLS,
            st.ports.apache_tls,
            "/",
            [
                f"Host: {configs.APACHE_HOST}:{st.ports.apache_tls}",
                f"Cookie: {st.cookies['apache-server-cache-tls']}",
            ],
            st.trees("apache-server-cache-tls"),
            tls=st.tls.cert,
        ),
    ]
    for variant, port in st.ports.idgate_tls.items():
        memo = "on" if TLS_VARIANTS[variant].memo else "off"
        name = f"idgate proxy with idgate.tls, cookie session, 1 worker, memo {memo}"
        cfgs.append(Config(name, port, "/", idgate_headers, st.trees(variant), tls=st.tls.cert))
    return cfgs


# -- provider ------------------------------------------------------------------------------------------


@dataclass
class TokenRun:
    name: str
    samples: list[Sample] = field(default_factory=list)
    unsupported: str = ""


#: what token.lua sends once its bodies are used up (refused; never a replay, which revokes grants)
SPENT = "grant_type=refresh_token&refresh_token=spent"


def token_sample(  # noqa: PLR0917
    url: str, host: str, auth: str, bodies_file: Path, seconds: float, roots: list[int]
) -> Sample:
    cmd = wrk_command(
        url,
        seconds=seconds,
        connections=32,
        headers=[f"Host: {host}"],
        script=HERE / "token.lua",
        script_args=[str(bodies_file), auth, SPENT],
        timeout_s=10,
    )
    before = cpu.cpu_ticks(roots)
    result = run_wrk(cmd, seconds)
    ticks = cpu.cpu_ticks(roots) - before
    ok = result.requests - result.bad_status
    good = dataclasses.replace(result, rps=ok / result.seconds if result.seconds else 0.0)
    return Sample(good, cpu.us_per_request(ticks, ok))


def provider_benches(st: Stack, opts: Options) -> tuple[list[Summary], list[str]]:
    """Code exchange and refresh grant: idgate vs oidc-provider, alternated; returns summaries and notes."""
    id_host = f"{configs.PROVIDER_HOST}:{st.ports.issuer_port}"
    node_url = f"http://127.0.0.1:{st.ports.oidc_provider}/token"
    node_host = f"127.0.0.1:{st.ports.oidc_provider}"
    auth = provider.basic_auth("rp", st.sec.rp_secret)
    storage = f"sqlite:///{st.tmp}/idgate-data/idgate.db"
    notes: list[str] = []

    def codes_for(who: str, n: int, *, known_users: bool = False) -> list[str]:
        if who.startswith("idgate"):
            return asyncio.run(provider.mint_idgate_codes(storage, n, known_users=known_users))
        return provider.mint_oidc_provider_codes(st.ports.oidc_provider, n)

    # idgate with one worker, and with one per core (what production runs; oidc-provider, too, uses
    # every core: its RS256 signatures run in libuv's thread pool)
    variants = {"idgate": "idgate-1w", "idgate 2 workers": "idgate-2w"}
    targets = {
        who: (f"http://127.0.0.1:{st.ports.idgate[v]}/dex/token", id_host, [st.pid(v)])
        for who, v in variants.items()
        if v in st.ports.idgate
    }
    targets["oidc-provider"] = (node_url, node_host, [st.pid("oidc-provider")])
    # Codes and tokens for this many grants per second: more than any provider here reaches, so a run never
    # runs out (a provider that used up its bodies would be measured at the rate the bench guessed, and
    # the refusals that follow would count in its CPU per grant). Raised when a run ran out anyway.
    rate_guess = {who: provider.RATE_GUESS for who in targets}

    def run_codes(who: str, tag: str) -> Sample:
        url, host, roots = targets[who]
        warm = codes_for(who, max(200, int(rate_guess[who] * opts.warmup * 1.5)))
        w = token_sample(
            url,
            host,
            auth,
            provider.write_bodies(st.tmp / f"{who}-w.txt", provider.code_bodies(warm)),
            opts.warmup,
            roots,
        )
        if w.result.bad_status:  # ran out during the warm-up: it is faster than guessed
            rate_guess[who] = max(rate_guess[who], 2 * w.result.rps)
        n = math.ceil(rate_guess[who] * opts.seconds * 1.6) + 100
        codes = codes_for(who, n)
        s = token_sample(
            url,
            host,
            auth,
            provider.write_bodies(st.tmp / f"{who}-{tag}.txt", provider.code_bodies(codes)),
            opts.seconds,
            roots,
        )
        if s.result.bad_status:
            notes.append(
                f"{who} code exchange ({tag}): {s.result.bad_status} refusals (ran out of {n} codes?)"
            )
        log(
            f"  code exchange {who}: {s.result.rps:,.0f}/s cpu {s.cpu_us and round(s.cpu_us)} µs refused "
            f"{s.result.bad_status} socket errors {s.result.socket_errors} ({s.result.requests} requests)"
        )
        return s

    # refresh support: redeem one code, look for a refresh token, try it
    refresh_ok: dict[str, str] = {}
    for who, (url, host, _roots) in targets.items():
        code = codes_for(who, 1)[0]
        status, body = provider.probe_grant(url, host, auth, provider.code_bodies([code])[0])
        if status != 200:
            raise RuntimeError(f"{who}: code exchange failed: {status} {body[:300]}")
        import json

        token = json.loads(body).get("refresh_token")
        if not token:
            probe = provider.probe_grant(url, host, auth, provider.refresh_bodies(["x"])[0])
            refresh_ok[who] = (
                f"no refresh_token in the token response; refresh_token grant answers {probe[0]} "
                f"{probe[1][:120]}"
            )
        else:
            refresh_ok[who] = ""

    def run_refresh(who: str, tag: str) -> Sample:
        url, host, roots = targets[who]
        basic = aiohttp.BasicAuth("rp", st.sec.rp_secret)
        n = math.ceil(rate_guess.get(f"r-{who}", rate_guess[who]) * (opts.seconds + opts.warmup) * 1.6) + 100
        via = url
        if who.startswith("idgate"):  # every token a live family: at most 10 per user and client
            n = min(n, configs.TOKEN_USERS * configs.FAMILIES_PER_USER)
            via = f"http://{configs.PROVIDER_HOST}:{st.ports.idgate[variants[who]]}/dex/token"
        tokens = asyncio.run(login.exchange_codes(via, basic, codes_for(who, n, known_users=True)))
        warm, main = tokens[: len(tokens) // 6], tokens[len(tokens) // 6 :]
        w = token_sample(
            url,
            host,
            auth,
            provider.write_bodies(st.tmp / f"r-{who}-w.txt", provider.refresh_bodies(warm)),
            opts.warmup,
            roots,
        )
        s = token_sample(
            url,
            host,
            auth,
            provider.write_bodies(st.tmp / f"r-{who}-{tag}.txt", provider.refresh_bodies(main)),
            opts.seconds,
            roots,
        )
        if w.result.bad_status or s.result.bad_status:  # ran out: more next time
            rate_guess[f"r-{who}"] = max(rate_guess.get(f"r-{who}", 0.0), 2 * max(w.result.rps, s.result.rps))
        if s.result.bad_status:
            notes.append(
                f"{who} refresh ({tag}): {s.result.bad_status} refusals (ran out of {len(main)} tokens?)"
            )
        log(
            f"  refresh {who}: {s.result.rps:,.0f}/s cpu {s.cpu_us and round(s.cpu_us)} µs refused "
            f"{s.result.bad_status}"
        )
        return s

    runs = {f"{k} {w}": TokenRun(f"{k}: {w}") for k in ("code exchange", "refresh grant") for w in targets}
    for r in range(opts.rounds):
        log(f"provider round {r + 1}/{opts.rounds}")
        for who in targets:
            runs[f"code exchange {who}"].samples.append(run_codes(who, f"c{r}"))
        for who in targets:
            if refresh_ok[who]:
                runs[f"refresh grant {who}"].unsupported = refresh_ok[who]
                continue
            runs[f"refresh grant {who}"].samples.append(run_refresh(who, f"r{r}"))
    summaries = []
    for run in runs.values():
        if run.samples:
            summaries.append(report.summarise(run.name, run.samples))
        else:
            summaries.append(
                Summary(run.name, 0.0, None, None, None, 0, 0, note=f"not supported: {run.unsupported}")
            )
    return summaries, notes


def bcrypt_verify_ms() -> float:
    hashed = bcrypt.hashpw(b"password", bcrypt.gensalt(10))
    start = time.perf_counter()
    for _ in range(3):
        bcrypt.checkpw(b"password", hashed)
    return (time.perf_counter() - start) / 3 * 1000


def login_benches(st: Stack, opts: Options) -> list[tuple[str, login.LoginRate, float | None]]:
    out: list[tuple[str, login.LoginRate, float | None]] = []
    seconds = max(opts.seconds, 3.0)
    for variant in ("idgate-1w", "idgate-2w"):
        if variant not in st.ports.idgate:
            continue
        issuer = f"http://{configs.PROVIDER_HOST}:{st.ports.idgate[variant]}/dex"
        roots = [st.pid(variant)]
        before = cpu.cpu_ticks(roots)
        rate = asyncio.run(login.login_rate(issuer, st.sec.password, concurrency=8, seconds=seconds))
        per = cpu.us_per_request(cpu.cpu_ticks(roots) - before, rate.logins)
        log(f"  logins {variant}: {rate.per_second:.1f}/s ({rate.logins} ok, {rate.failures} failed)")
        out.append((variant, rate, per))
    return out


# -- soak and profile ---------------------------------------------------------------------------------


def soak(st: Stack, opts: Options) -> None:
    variant = "idgate-1w"
    port, pid = st.ports.idgate[variant], st.pid(variant)
    headers = [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"]
    url = f"http://127.0.0.1:{port}/"
    log("soak: measuring the maximum")
    top = run_wrk(wrk_command(url, seconds=opts.seconds, headers=headers), opts.seconds)
    target = top.rps * opts.soak_fraction
    pause_ms = 10
    conns = max(4, round(target * (pause_ms + (top.p50_ms or 1.0)) / 1000))
    for _ in range(3):  # calibrate the paced rate
        cal = run_wrk(
            wrk_command(
                url,
                seconds=3,
                headers=headers,
                connections=conns,
                script=HERE / "pace.lua",
                script_args=[str(pause_ms)],
            ),
            3,
        )
        if cal.rps <= 0:
            break
        conns = max(4, min(2000, round(conns * target / cal.rps)))
    log(
        f"soak: {opts.soak_seconds:.0f} s at ~{target:,.0f} req/s ({conns} connections, {pause_ms} ms pauses)"
    )
    samples: list[tuple[float, dict[int, int]]] = []
    stop = threading.Event()

    def sample_rss() -> None:
        start = time.monotonic()
        while not stop.wait(timeout=min(10.0, opts.soak_seconds / 20)):
            samples.append((time.monotonic() - start, cpu.tree_rss_kb(pid)))

    sampler = threading.Thread(target=sample_rss, daemon=True)
    rss_start = cpu.tree_rss_kb(pid)
    sampler.start()
    try:
        res = run_wrk(
            wrk_command(
                url,
                seconds=opts.soak_seconds,
                headers=headers,
                connections=conns,
                script=HERE / "pace.lua",
                script_args=[str(pause_ms)],
            ),
            opts.soak_seconds,
        )
    finally:
        stop.set()
        sampler.join(timeout=15)
    write_soak(opts, top, target, res, rss_start, samples)


def write_soak(  # noqa: PLR0917
    opts: Options,
    top: WrkResult,
    target: float,
    res: WrkResult,
    rss_start: dict[int, int],
    samples: list[tuple[float, dict[int, int]]],
) -> None:
    total = [(t, sum(d.values()) / 1024) for t, d in samples]
    first_after_warm = total[min(len(total) - 1, max(0, len(total) // 10))][1] if total else 0.0
    last = total[-1][1] if total else 0.0
    growth = (last - first_after_warm) / first_after_warm * 100 if first_after_warm else 0.0
    lines = [
        "# idgate soak",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        *([f"- **{opts.note}**"] if opts.note else []),
        f"- maximum (1 worker, memo, c32): {top.rps:,.0f} req/s; soak target {opts.soak_fraction:.0%}: "
        f"{target:,.0f} req/s; achieved {res.rps:,.0f} req/s over {res.seconds:.0f} s "
        f"({res.requests:,} requests)",
        f"- errors: {res.errors} (socket {res.socket_errors}, non-2xx/3xx {res.bad_status}) — must be 0: "
        f"**{'met' if res.errors == 0 else 'missed'}**",
        f"- p50 / p99: {report.fmt_ms(res.p50_ms, res.p99_ms)} ms",
        f"- RSS at start {sum(rss_start.values()) / 1024:.1f} MiB; "
        f"after 10 % of the soak {first_after_warm:.1f} MiB; "
        f"at the end {last:.1f} MiB ({growth:+.1f} %)",
        "",
        report.table(["t (s)", "RSS MiB (process tree)"], [[f"{t:.0f}", f"{m:.1f}"] for t, m in total]),
        "",
    ]
    path = opts.out.with_name("SOAK.md" if not opts.quick else ".quick-soak.md")
    path.write_text("\n".join(x for x in lines if x is not None))
    log(f"wrote {path}: errors {res.errors}, RSS {growth:+.1f} %")


def spy_during(spy: str, pid: int, raw: Path, seconds: float, cmd: list[str]) -> WrkResult:
    """py-spy record ``pid`` (raw collapsed stacks into ``raw``) while wrk runs ``cmd``."""
    spyp = subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        res = run_wrk(cmd, seconds)
        spyp.wait(timeout=seconds + 30)
    finally:
        if spyp.poll() is None:
            spyp.kill()
            spyp.wait(timeout=5)
    return res


def profile(st: Stack, opts: Options) -> None:
    """py-spy on idgate under wrk: the proxy hot path (memo on and off) and the token endpoint."""
    from bench.profile import render_profile

    spy = environment.ensure_py_spy()
    headers = [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"]
    seconds = max(opts.seconds, 5.0)
    out = ["# Where the time goes in idgate under wrk (py-spy, 250 Hz)", ""]
    if opts.note:
        out += [f"**{opts.note}**", ""]
    for variant in ("idgate-1w", "idgate-1w-nomemo"):
        raw = st.tmp / f"{variant}.spy"
        url = f"http://127.0.0.1:{st.ports.idgate[variant]}/"
        res = spy_during(
            spy, st.pid(variant), raw, seconds, wrk_command(url, seconds=seconds, headers=headers)
        )
        out += [
            f"## proxy hot path, {variant}: {res.rps:,.0f} req/s while sampled",
            "",
            render_profile(raw.read_text() if raw.exists() else ""),
            "",
        ]
    # the token endpoint: authorization-code exchange
    storage = f"sqlite:///{st.tmp}/idgate-data/idgate.db"
    codes = asyncio.run(provider.mint_idgate_codes(storage, int(provider.RATE_GUESS * seconds * 1.2)))
    bodies = provider.write_bodies(st.tmp / "spy-codes.txt", provider.code_bodies(codes))
    raw = st.tmp / "token.spy"
    cmd = wrk_command(
        f"http://127.0.0.1:{st.ports.idgate['idgate-1w']}/dex/token",
        seconds=seconds,
        headers=[f"Host: {configs.PROVIDER_HOST}:{st.ports.issuer_port}"],
        script=HERE / "token.lua",
        script_args=[str(bodies), provider.basic_auth("rp", st.sec.rp_secret), SPENT],
        timeout_s=10,
    )
    res = spy_during(spy, st.pid("idgate-1w"), raw, seconds, cmd)
    out += [
        f"## token endpoint (code exchange), idgate-1w: {res.requests - res.bad_status} exchanges in "
        f"{res.seconds:.0f} s while sampled",
        "",
        render_profile(raw.read_text() if raw.exists() else ""),
        "",
    ]
    path = opts.out.with_name("PROFILE.md" if not opts.quick else ".quick-profile.md")
    path.write_text("\n".join(out))
    log(f"wrote {path}")


# -- main ---------------------------------------------------------------------------------------------


def main(opts: Options) -> int:
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    environment.ensure_installed(need_node="provider" in opts.only and not opts.soak)
    facts = environment.machine()
    tmp = Path(tempfile.mkdtemp(prefix="idgate-bench-"))
    log(f"bench: working in {tmp}")
    try:
        with Supervisor(tmp) as sup:
            if opts.soak:
                st = start_stack(tmp, sup, opts, apache=False, node=False, variants=["idgate-1w"])
                soak(st, opts)
                return 0
            if opts.profile:
                st = start_stack(
                    tmp, sup, opts, apache=False, node=False, variants=["idgate-1w", "idgate-1w-nomemo"]
                )
                profile(st, opts)
                return 0
            st = start_stack(
                tmp,
                sup,
                opts,
                apache="proxy" in opts.only,
                node="provider" in opts.only,
                # idgate-1w alone (the issuer Apache signs in at) when only the TLS rows are measured
                variants=list(IDGATE_VARIANTS) if opts.only - {"tls"} else ["idgate-1w"],
                tls="tls" in opts.only,
            )
            m = Measured(idle_rss=st.idle_rss)
            if "proxy" in opts.only:
                log("proxy configurations")
                m.proxy = alternate(proxy_configs(st), opts)
            if "tls" in opts.only:
                log("TLS proxy configurations")
                m.tls = alternate(tls_configs(st), opts)
            if "provider" in opts.only:
                log("provider: token endpoint")
                m.prov, m.prov_notes = provider_benches(st, opts)
            if "logins" in opts.only:
                log("logins per second")
                m.bcrypt_ms = bcrypt_verify_ms()
                m.logins = login_benches(st, opts)
            log(f"wrote {write_report(opts, facts, started, m)}")
    finally:
        if "KEEP" not in os.environ.get("BENCH_TMP", ""):
            shutil.rmtree(tmp, ignore_errors=True)
    return 0

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

from bench import configs, cpu, environment, login, provider, report
from bench.processes import Proc, Supervisor, free_port, wait_port
from bench.report import Sample, Summary
from bench.targets import APACHE_CC, APACHE_SC, APACHE_TLS, NGINX, NGINX_TLS, REDIS_SESSIONS, proxy_targets
from bench.wrk import WrkResult, run_wrk, wrk_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: grants per second the token benches prepare bodies for (see provider_benches)
RATE_GUESS = 2500.0
#: seconds for requests still in flight when wrk stops to finish (before Redis commands are counted)
SETTLE = 0.3
IDGATE_VARIANTS = {  # name -> (workers, memo)
    "idgate-1w": (1, True),
    "idgate-1w-nomemo": (1, False),
    "idgate-2w": (2, True),
    "idgate-2w-nomemo": (2, False),
}
TLS_VARIANTS = {"idgate-tls-1w": True, "idgate-tls-1w-nomemo": False}  # name -> memo (1 worker each)


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
    With ``tls``, the TLS rows' servers too: nginx, Apache (server-cache) and idgate, one certificate."""
    sec = configs.Secrets()
    ports = configs.Ports(
        upstream=free_port(),
        nginx_proxy=free_port(),
        idgate={v: free_port() for v in variants},
        apache={t: free_port() for t in (("server-cache", "client-cookie") if apache else ())},
        oidc_provider=free_port(),
        redis=free_port() if apache else 0,  # the full proxy table has Redis-session rows
    )
    st = Stack(tmp, sup, sec, ports)
    if tls:
        plan_tls(st)
    os.chmod(tmp, 0o755)  # nginx and Apache children run as unprivileged users
    (tmp / "www").mkdir()
    (tmp / "www" / "file.bin").write_bytes(b"x" * (configs.BODY_BYTES - 1) + b"\n")
    for name in ("upstream", "nginx-proxy", *(f"apache-{t}" for t in ports.apache)):
        (tmp / name).mkdir()
        shutil.chown(tmp / name, "www-data", "www-data")

    def nginx(name: str, text: str, port: int) -> None:
        conf = tmp / name / "nginx.conf"
        conf.write_text(text)
        st.procs[name] = sup.start(name, ["nginx", "-c", str(conf), "-p", str(tmp / name)])
        wait_port(port, st.procs[name])

    start_redis(st)
    nginx("upstream", configs.upstream_nginx_conf(tmp, ports.upstream), ports.upstream)
    nginx("nginx-proxy", configs.proxy_nginx_conf(tmp, ports.nginx_proxy, ports.upstream), ports.nginx_proxy)
    if st.tls:
        nginx(
            "nginx-tls",
            configs.proxy_nginx_conf(tmp, ports.nginx_tls, ports.upstream, tls=st.tls),
            ports.nginx_tls,
        )

    log("hashing the bench user's password (bcrypt cost 10)")
    values = tmp / "values.yaml"
    password_hash = sec.password_hash(10)
    configs.write_values(values, configs.idgate_values(tmp, ports, sec, password_hash))
    (tmp / "idgate-data").mkdir()
    asyncio.run(configs.add_token_users(configs.storage_url(tmp), password_hash))
    for variant in variants:
        workers, memo = IDGATE_VARIANTS[variant]
        env = {"IDGATE_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        port = ports.idgate[variant]
        st.procs[variant] = sup.start(
            variant,
            [
                sys.executable,
                "-m",
                "idgate",
                "serve",
                "--config",
                str(values),
                "--listen",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                *([] if memo else memo_off(env)),
                *metrics_args(),
            ],
            env=env,
            cwd=tmp,
        )
        wait_port(port, st.procs[variant])
    start_idgate_tls(st, values)
    first = variants[0]
    log(f"signing in through idgate's proxy ({first})")
    st.cookies["idgate"] = asyncio.run(login.browser_login(f"http://{st.app_host}/", sec.password))
    sign_in_redis(st)
    if apache:  # the full proxy table: the floor of the design, and nginx in front running `idgate render
        # nginx` with its cache of 202s on (the default) and off
        start_floors(st, values)
        ports.nginx_auth, ports.nginx_auth_nocache = free_port(), free_port()
        for name, port, cache_seconds in (
            ("nginx-auth", ports.nginx_auth, 5),
            ("nginx-auth-nocache", ports.nginx_auth_nocache, 0),
        ):
            (tmp / name).mkdir()
            shutil.chown(tmp / name, "www-data", "www-data")
            conf_text = configs.rendered_nginx_conf(
                values, tmp / name, port, ports.idgate[first], cache_seconds=cache_seconds
            )
            nginx(name, conf_text, port)

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


def plan_tls(st: Stack) -> None:
    """Ports and run directories for the TLS rows' servers, and their certificate."""
    st.ports.nginx_tls, st.ports.apache_tls = free_port(), free_port()
    st.ports.idgate_tls = {v: free_port() for v in TLS_VARIANTS}
    st.tls = configs.make_certificate(st.tmp)
    for name in ("nginx-tls", "apache-server-cache-tls"):
        (st.tmp / name).mkdir()
        shutil.chown(st.tmp / name, "www-data", "www-data")


def start_idgate_tls(st: Stack, values: Path) -> None:
    """idgate with ``idgate.tls`` (the bench's certificate), 1 worker, memo on and off, when there are TLS
    rows: the plain rows' ``values`` otherwise, so the plain sign-in's cookie (the same deployment and
    key) is good here too."""
    if st.tls is None:
        return
    path = st.tmp / "values-tls.yaml"
    configs.write_values(path, configs.tls_values(yaml.safe_load(values.read_text()), st.tls))
    for variant, port in st.ports.idgate_tls.items():
        env = {"IDGATE_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        argv = [
            sys.executable,
            "-m",
            "idgate",
            "serve",
            "--config",
            str(path),
            "--listen",
            f"127.0.0.1:{port}",
        ]
        argv += ["--workers", "1", *([] if TLS_VARIANTS[variant] else memo_off(env)), *metrics_args()]
        st.procs[variant] = st.sup.start(variant, argv, env=env, cwd=st.tmp)
        wait_port(port, st.procs[variant])


def start_apaches(st: Stack) -> None:
    """Apache + mod_auth_openidc for each session type (and server-cache with TLS for the TLS rows), each
    with a session from a scripted login."""
    runs = [(t, p, None) for t, p in st.ports.apache.items()]
    if st.tls:
        runs.append(("server-cache", st.ports.apache_tls, st.tls))
    for session_type, port, tls in runs:
        name = f"apache-{session_type}" + ("-tls" if tls else "")
        conf = st.tmp / name / "apache.conf"
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
            )
        )
        st.procs[name] = st.sup.start(name, ["apache2", "-f", str(conf), "-DFOREGROUND"])
        wait_port(port, st.procs[name])
        log(f"signing in through Apache + mod_auth_openidc ({session_type}{', TLS' if tls else ''})")
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
    if opts.warmup > 0:
        run_wrk(wrk_for(c, opts.warmup, opts), opts.warmup)
    roots = c.roots()
    if c.redis_port:
        time.sleep(SETTLE)  # the warm-up's last requests read their sessions before the count starts
    commands = redis_commands(c.redis_port) if c.redis_port else 0
    before = cpu.cpu_ticks(roots)
    result = run_wrk(wrk_for(c, opts.seconds, opts), opts.seconds)
    ticks = cpu.cpu_ticks(roots) - before
    per_request = None
    if c.redis_port and result.requests:
        # wrk stops with a request in flight on each connection, uncounted, that the server did read a
        # session for: those are requests too.
        time.sleep(SETTLE)
        served = result.requests + opts.connections
        per_request = (redis_commands(c.redis_port) - commands) / served
    sample = Sample(result, cpu.us_per_request(ticks, result.requests), per_request)
    log(
        f"  {c.name}: {result.rps:,.0f} req/s p50/p99 {report.fmt_ms(result.p50_ms, result.p99_ms)} ms "
        f"cpu {sample.cpu_us and round(sample.cpu_us, 1)} µs/req errors {result.errors}"
        + (f" Redis commands/req {per_request:.5f}" if per_request is not None else "")
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


BROWSER = ", browser-like request (15 more headers)"


def browser_like(cfgs: Sequence[Config]) -> list[Config]:
    """nginx, Apache (server-cache) and idgate (1 worker, memo) again, with a browser's headers."""
    wanted = (NGINX, APACHE_SC, "idgate proxy, cookie session, 1 worker, memo on")
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
    for variant, port in st.ports.idgate.items():
        workers, memo = IDGATE_VARIANTS[variant]
        cfgs.append(
            Config(
                f"idgate proxy, cookie session, {workers} worker{'s' if workers > 1 else ''}, "
                f"memo {'on' if memo else 'off'}",
                port,
                "/",
                [f"Host: {st.app_host}", f"Cookie: {st.cookies['idgate']}"],
                st.trees(variant),
            )
        )
    cfgs += browser_like(cfgs)
    if "idgate-redis" in st.cookies:
        for variant in ("idgate-1w", "idgate-1w-nomemo"):
            if variant in st.ports.idgate:
                memo = IDGATE_VARIANTS[variant][1]
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
            workers = IDGATE_VARIANTS[variant][0]
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
        memo = "on" if TLS_VARIANTS[variant] else "off"
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
    rate_guess = {who: RATE_GUESS for who in targets}

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


# -- the report ---------------------------------------------------------------------------------------


def write_report(  # noqa: PLR0917
    opts: Options,
    facts: dict[str, str],
    proxy: list[Summary],
    prov: list[Summary],
    prov_notes: list[str],
    logins: list[tuple[str, login.LoginRate, float | None]],
    bcrypt_ms: float | None,
    st: Stack | None,
    started: str,
    tls: Sequence[Summary] = (),
) -> None:
    r = report.Report("idgate benchmarks")
    mode = (
        "quick smoke run (2 s runs, one round): numbers are not results"
        if opts.quick
        else (
            f"{opts.rounds} rounds, {opts.seconds:.0f} s runs after {opts.warmup:.0f} s warm-up, alternated"
        )
    )
    shared = opts.note or ""
    facts = {**facts, "load average at end": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    r.add(
        "Run",
        "\n".join(
            [
                f"- date: {started}",
                f"- mode: {mode}; `wrk -t1 -c{opts.connections} -d{opts.seconds:.0f}s --latency`, "
                "medians over rounds",
                *([f"- **{shared}**"] if shared else []),
                *(f"- {k}: {v}" for k, v in facts.items()),
                "- access logs off everywhere (idgate `IDGATE_LOG_LEVEL=WARNING`, nginx `access_log off`, "
                "Apache without CustomLog); CPU µs/request = utime+stime of the measured server's process "
                "tree over the run "
                "(upstream nginx not included) ÷ requests wrk counted.",
            ]
        ),
    )
    if proxy:
        r.add(
            "Proxy: authenticated GET of a 1 KiB file", report.proxy_table(proxy, NGINX, APACHE_SC, BROWSER)
        )
        r.add("Targets (PERFORMANCE.md, issue 7)", report.targets_table(proxy_targets(proxy)))
    if tls:
        r.add(
            "TLS proxy: authenticated GET of a 1 KiB file over HTTPS, keep-alive",
            report.proxy_table(tls, NGINX_TLS, APACHE_TLS, refs=("× nginx TLS", "× Apache+OIDC TLS"))
            + "\n\n"
            + TLS_NOTE,
        )
    if prov:
        rows = []
        by = {s.name: s for s in prov}
        for grant in ("code exchange", "refresh grant"):
            b = by.get(f"{grant}: oidc-provider")
            for who in ("idgate", "idgate 2 workers", "oidc-provider"):
                s = by.get(f"{grant}: {who}")
                if s is None:
                    continue
                mine = s is not b and bool(s.rps) and b is not None
                rows.append(
                    [
                        s.name,
                        s.note or report.fmt_num(s.rps),
                        report.fmt_ms(s.p50_ms, s.p99_ms),
                        report.fmt_num(s.cpu_us, 0),
                        report.fmt_ratio(report.ratio(s.rps, b.rps if b else None)) if mine else "",
                    ]
                )
        body = report.table(
            ["grant", "per second", "p50 / p99 ms", "CPU µs each", "idgate ÷ oidc-provider"], rows
        )
        body += (
            "\n\nCodes are minted as each provider's `/auth` would after a login (idgate: `issue_code` "
            "written to its SQLite storage; oidc-provider: its `AuthorizationCode` model, in-memory "
            "adapter), each redeemed once by `bench/token.lua`; idgate's are each a different person's "
            "first login (so no user's oldest refresh family is evicted, see `bench/provider.py`). Refresh "
            f"tokens come from real code exchanges of {configs.TOKEN_USERS:,} users (kept in idgate's "
            "storage) and are used once each (both rotate). Bodies are prepared for "
            f"{RATE_GUESS:,.0f} grants per second, so no run runs out. "
            "idgate keeps everything in its SQLite file (WAL, `synchronous=NORMAL`); oidc-provider keeps it "
            'in process memory. "2 workers" is `idgate serve --workers 2`, one per core; oidc-provider '
            "uses both cores too (its signatures run in libuv's thread pool). "
            "Target: idgate ≥ 1.0× oidc-provider."
        )
        if prov_notes:
            body += "\n\n" + "\n".join(f"- {n}" for n in prov_notes)
        r.add("Provider: token endpoint, client_secret_basic, RS256 ID token", body)
    if logins:
        cores = os.cpu_count() or 1
        ceiling = cores * 1000 / bcrypt_ms if bcrypt_ms else None
        rows = [
            [
                v,
                f"{lr.per_second:.1f}",
                str(lr.failures),
                report.fmt_num(per, 0),
                report.fmt_ratio(report.ratio(lr.per_second, ceiling)),
            ]
            for v, lr, per in logins
        ]
        body = report.table(["instance", "logins/s", "failed", "CPU µs per login", "÷ bcrypt ceiling"], rows)
        body += (
            f"\n\nbcrypt cost 10 verify here: {bcrypt_ms:.1f} ms → ceiling {ceiling:.1f} logins/s on "
            f"{cores} cores. A login = `/auth` → login form → POST password → code; 8 scripted browsers "
            "(the driver shares the cores)."
            if bcrypt_ms and ceiling
            else ""
        )
        r.add("Logins per second (static password, bcrypt cost 10)", body)
    if st is not None and st.idle_rss:
        rows = []
        for name, tree in st.idle_rss.items():
            for pid, kb in tree.items():
                rows.append([name, str(pid), f"{kb / 1024:.1f}"])
        idgate_kb = [
            kb for name, tree in st.idle_rss.items() if name.startswith("idgate") for kb in tree.values()
        ]
        largest = max(idgate_kb) * 1024 / 1e6 if idgate_kb else None  # /proc kB are KiB; the target is MB
        verdict = report.at_most("largest idle idgate process (RSS)", largest, 80.0, " MB").verdict
        r.add(
            "Idle RSS per process (after sign-in, before load)",
            report.table(["server", "pid", "RSS MiB"], rows)
            + f"\n\nTarget: idgate < 80 MB per process — largest {report.fmt_num(largest, 1)} MB: {verdict}. "
            "(A 1-worker idgate process holds the provider, the sign-in app and the edge; with workers the "
            "first line is the supervisor.)",
        )
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists() and not opts.quick:  # the hand-written why of the misses, dated inside
        r.add("Why targets are missed (analysis)", analysis.read_text().strip())
    pod_sizes = HERE / "POD_SIZES.md"  # written by hand from `python -m bench.pod_sizes` (issue 17)
    if pod_sizes.exists() and not opts.quick:
        r.add("Pod sizes (issue 17)", pod_sizes.read_text().strip())
    r.add(
        "See also",
        "`bench/PROFILE.md` (`make bench BENCH_ARGS=--profile`: where idgate's time goes) and "
        "`bench/SOAK.md` (`make bench-soak`).",
    )
    opts.out.write_text(r.render())
    log(f"wrote {opts.out}")


TLS_NOTE = (
    "One throw-away self-signed certificate for all three, **ECDSA P-256** (SHA-256), made at bench start "
    "with `cryptography` (`configs.make_certificate`). Each server runs its default protocols and ciphers "
    "(nginx `ssl` on the listener; Apache `mod_ssl` loaded in the generated `apache.conf`; idgate "
    "`idgate.tls`: TLS 1.2+, ALPN http/1.1); the notes say what the preflight's client (Python's OpenSSL, "
    "as wrk's libssl) negotiated: nginx before 1.23.4 leaves TLSv1.3 out of its default `ssl_protocols`, "
    "so Debian 12's nginx 1.22 speaks TLS 1.2 (ECDHE-ECDSA, AES-256-GCM) where the others speak 1.3. "
    "wrk does not verify the certificate (the preflight does); its connections are kept alive, so a run "
    "pays 32 handshakes and the rest is record encryption. nginx keeps the plain row's keep-alive "
    "upstream pool; Apache signs in over https; idgate's TLS instances run the plain rows' values plus "
    "`idgate.tls` and are sent the plain sign-in's cookie (same deployment and key, checked the same way)."
)


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
    codes = asyncio.run(provider.mint_idgate_codes(storage, int(RATE_GUESS * seconds * 1.2)))
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
    proxy: list[Summary] = []
    tls: list[Summary] = []
    prov: list[Summary] = []
    notes: list[str] = []
    logins: list[tuple[str, login.LoginRate, float | None]] = []
    st: Stack | None = None
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
            if "proxy" in opts.only:
                log("proxy configurations")
                proxy = alternate(proxy_configs(st), opts)
            if "tls" in opts.only:
                log("TLS proxy configurations")
                tls = alternate(tls_configs(st), opts)
            if "provider" in opts.only:
                log("provider: token endpoint")
                prov, notes = provider_benches(st, opts)
            bcrypt_ms = None
            if "logins" in opts.only:
                log("logins per second")
                bcrypt_ms = bcrypt_verify_ms()
                logins = login_benches(st, opts)
            write_report(opts, facts, proxy, prov, notes, logins, bcrypt_ms, st, started, tls)
    finally:
        if "KEEP" not in os.environ.get("BENCH_TMP", ""):
            shutil.rmtree(tmp, ignore_errors=True)
    return 0

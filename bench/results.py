"""``bench/RESULTS.md`` from what a run measured: the run's facts, the tables, the targets, idle RSS."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench import configs, logs, provider, report
from bench.login import LoginRate
from bench.report import Summary
from bench.targets import (
    APACHE_SC,
    APACHE_TLS,
    BROWSER,
    LOGGED,
    NGINX,
    NGINX_TLS,
    RSS_MIB,
    issue7_targets,
    issue21_targets,
)

if TYPE_CHECKING:
    from bench.run import Options

HERE = Path(__file__).resolve().parent


@dataclass
class Measured:
    """What a run measured, part by part (empty where a part was not run)."""

    proxy: list[Summary] = field(default_factory=list)
    tls: list[Summary] = field(default_factory=list)
    prov: list[Summary] = field(default_factory=list)
    prov_notes: list[str] = field(default_factory=list)
    logins: list[tuple[str, LoginRate, float | None]] = field(default_factory=list)
    bcrypt_ms: float | None = None
    idle_rss: dict[str, dict[int, int]] = field(default_factory=dict)  # server -> pid -> KiB


LOGS_NOTE = (
    "- logs: access logs off (idgate `IDGATE_LOG_LEVEL=WARNING`, nginx `access_log off`, Apache without "
    f'CustomLog) except in the rows ending "{LOGGED}", where each server logs as it does out of the box, '
    "to a file in the bench's directory as a container runtime keeps it: idgate its stderr (level INFO, "
    "`--log-format text`, `PYTHONUNBUFFERED=1` as in the image), nginx its default `access_log` (combined), "
    "Apache Debian's `CustomLog … combined`. Such a row's file must grow by at least "
    f"{logs.MIN_LINES_PER_REQUEST} lines per request wrk counted ({logs.FLUSH_SECONDS:g} s after the run "
    "for idgate's batches, counted in its CPU), and a logs-off idgate row's by none, or the run fails."
)

LOGGED_NOTE = (
    f"Rows ending \"{LOGGED}\" are compared with nginx's and Apache's rows that log too: their ratio "
    "columns are idgate with its logs × nginx with its access log and × Apache with its access log; "
    '"default logging ÷ logs off" is in the targets below. Their notes say what each request wrote.'
)


def run_section(opts: Options, facts: dict[str, str], started: str) -> str:
    mode = (
        "quick smoke run (2 s runs, one round): numbers are not results"
        if opts.quick
        else (
            f"{opts.rounds} rounds, {opts.seconds:.0f} s runs after {opts.warmup:.0f} s warm-up, alternated"
        )
    )
    facts = {**facts, "load average at end": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    return "\n".join(
        [
            f"- date: {started}",
            f"- mode: {mode}; `wrk -t1 -c{opts.connections} -d{opts.seconds:.0f}s --latency`, "
            "medians over rounds",
            *([f"- **{opts.note}**"] if opts.note else []),
            *(f"- {k}: {v}" for k, v in facts.items()),
            LOGS_NOTE,
            "- CPU µs/request = utime+stime of the measured server's process tree over the run (upstream "
            "nginx not included) ÷ requests wrk counted.",
        ]
    )


def provider_section(prov: list[Summary], notes: list[str]) -> str:
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
        f"{provider.RATE_GUESS:,.0f} grants per second, so no run runs out. "
        "idgate keeps everything in its SQLite file (WAL, `synchronous=NORMAL`); oidc-provider keeps it "
        'in process memory. "2 workers" is `idgate serve --workers 2`, one per core; oidc-provider '
        "uses both cores too (its signatures run in libuv's thread pool). The ratio is of the medians; "
        "the target (issue 21: idgate ≥ 1.0× oidc-provider in every round, each row) is in the targets."
    )
    if notes:
        body += "\n\n" + "\n".join(f"- {n}" for n in notes)
    return body


def logins_section(logins: list[tuple[str, LoginRate, float | None]], bcrypt_ms: float | None) -> str:
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
    return body + (
        f"\n\nbcrypt cost 10 verify here: {bcrypt_ms:.1f} ms → ceiling {ceiling:.1f} logins/s on "
        f"{cores} cores. A login = `/auth` → login form → POST password → code; 8 scripted browsers "
        "(the driver shares the cores)."
        if bcrypt_ms and ceiling
        else ""
    )


def rss_section(idle_rss: dict[str, dict[int, int]]) -> str:
    rows = [
        [name, str(pid), f"{kb / 1024:.1f}"] for name, tree in idle_rss.items() for pid, kb in tree.items()
    ]
    return report.table(["server", "pid", "RSS MiB"], rows) + (
        f"\n\nTarget (issue 21): every idgate process < {RSS_MIB:.0f} MiB, in the targets above. (A 1-worker "
        "idgate process holds the provider, the sign-in app and the edge; with workers the first line is "
        "the supervisor.)"
    )


def write_report(opts: Options, facts: dict[str, str], started: str, m: Measured) -> Path:
    """Write the Markdown of a run to ``opts.out``; returns the path."""
    r = report.Report("idgate benchmarks")
    r.add("Run", run_section(opts, facts, started))
    if m.proxy:
        r.add(
            "Proxy: authenticated GET of a 1 KiB file",
            report.proxy_table(m.proxy, NGINX, APACHE_SC, (BROWSER, LOGGED)) + "\n\n" + LOGGED_NOTE,
        )
    if m.proxy or m.prov:
        r.add("Targets (issue 21)", report.targets_table(issue21_targets(m.proxy, m.prov, m.idle_rss)))
    if m.proxy:
        r.add(
            "Targets (PERFORMANCE.md, issue 7)",
            report.targets_table(issue7_targets(m.proxy))
            + "\n\nIssue 7's targets that issue 21 restates or tightens (idgate × Apache+OIDC, × nginx with "
            "the memo, CPU per request, idle RSS) are in the table above, with issue 21's figures.",
        )
    if m.tls:
        r.add(
            "TLS proxy: authenticated GET of a 1 KiB file over HTTPS, keep-alive",
            report.proxy_table(m.tls, NGINX_TLS, APACHE_TLS, refs=("× nginx TLS", "× Apache+OIDC TLS"))
            + "\n\n"
            + TLS_NOTE,
        )
    if m.prov:
        r.add(
            "Provider: token endpoint, client_secret_basic, RS256 ID token",
            provider_section(m.prov, m.prov_notes),
        )
    if m.logins:
        r.add("Logins per second (static password, bcrypt cost 10)", logins_section(m.logins, m.bcrypt_ms))
    if m.idle_rss:
        r.add("Idle RSS per process (after sign-in, before load)", rss_section(m.idle_rss))
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
    return opts.out


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

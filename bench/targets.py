"""The proxy table's targets (PERFORMANCE.md, issue 7), met or missed, from a run's summaries. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from bench import report
from bench.report import Summary, Target
from idgate.edge.gate import STATEFUL_MEMO_SECONDS

NGINX = "nginx proxy_pass (keep-alive pool)"
APACHE_SC = "Apache + mod_auth_openidc, server-cache"
APACHE_CC = "Apache + mod_auth_openidc, client-cookie"
NGINX_TLS = "nginx proxy_pass with TLS (keep-alive pool)"
APACHE_TLS = "Apache + mod_auth_openidc, server-cache, with TLS (mod_ssl)"
#: Redis-session rows: this many sessions (one person's sign-ins), one per request in turn: the requests
#: in flight (32) carry different sessions, so none shares another's read (see ``Gate.resolve``).
REDIS_SESSIONS = 64


def proxy_targets(sums: Sequence[Summary]) -> list[Target]:
    by = {s.name: s for s in sums}

    def get(prefix: str) -> Summary | None:
        return next((s for s in sums if s.name.startswith(prefix)), None)

    nginx, apache = by.get(NGINX), by.get(APACHE_SC)
    nomemo = get("idgate proxy, cookie session, 1 worker, memo off")
    memo = get("idgate proxy, cookie session, 1 worker, memo on")
    auth = get("idgate /oauth/auth (nginx auth_request answer), 1 worker")
    out = []
    if nomemo:
        out += [
            report.at_least(
                "idgate (1 worker, no memo) vs Apache+OIDC server-cache",
                report.ratio(nomemo.rps, apache.rps if apache else None),
                2.0,
            ),
            report.at_least(
                "idgate (1 worker, no memo) vs nginx proxy",
                report.ratio(nomemo.rps, nginx.rps if nginx else None),
                0.5,
            ),
            report.Target(
                "idgate p99 below Apache+OIDC server-cache's",
                "<",
                f"{report.fmt_num(nomemo.p99_ms, 2)} vs "
                f"{report.fmt_num(apache.p99_ms if apache else None, 2)} ms",
                None
                if apache is None or nomemo.p99_ms is None or apache.p99_ms is None
                else nomemo.p99_ms < apache.p99_ms,
            ),
            report.at_most("idgate CPU per request (1 worker, no memo)", nomemo.cpu_us, 50.0, " µs"),
        ]
    if memo:
        out += [
            report.at_least(
                "idgate (1 worker, memo) vs nginx proxy",
                report.ratio(memo.rps, nginx.rps if nginx else None),
                0.75,
            ),
            report.at_most("idgate CPU per request (1 worker, memo)", memo.cpu_us, 50.0, " µs"),
            report.at_least(
                "idgate (1 worker, memo) vs Apache+OIDC server-cache (informative)",
                report.ratio(memo.rps, apache.rps if apache else None),
                2.0,
            ),
        ]
    for memo_on, wanted in ((False, 0.5), (True, 0.75)):  # what the design reaches at all (bench/floor.py)
        floor = get(f"floor: minimal Python proxy, same cookie check, memo {'on' if memo_on else 'off'}")
        if floor:
            out.append(
                report.at_least(
                    f"the floor ({'memo' if memo_on else 'no memo'}) vs nginx proxy (informative)",
                    report.ratio(floor.rps, nginx.rps if nginx else None),
                    wanted,
                )
            )
    if auth:
        out.append(
            report.at_least(
                "/oauth/auth answers/s on one core-equivalent (1e6 / CPU µs)", auth.per_core, 25_000, "/s", 0
            )
        )
    redis = get("idgate proxy, Redis sessions, 1 worker, memo off")
    if redis:
        out.append(
            report.at_most("Redis round trips per request (no memo)", redis.redis_per_request, 1.0, "", 3)
        )
    redis = get("idgate proxy, Redis sessions, 1 worker, memo on")
    if redis:  # none while memoised: one read per session when its memo entry ends
        per = redis.redis_per_request
        per_session = None if per is None else per * redis.rps * STATEFUL_MEMO_SECONDS / REDIS_SESSIONS
        out.append(
            report.Target(
                f"Redis round trips per request, memo (one per session per {STATEFUL_MEMO_SECONDS:g} s)",
                "≤ 0.01",
                "–"
                if per is None
                else f"{per:.5f} ({per_session:.2f} per session per {STATEFUL_MEMO_SECONDS:g} s)",
                None if per is None else per <= 0.01,
            )
        )
    return out

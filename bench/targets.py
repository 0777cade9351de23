"""The targets, met or missed, from a run's summaries: issue 21's (default logging, the small and the
browser-like request, sessions without the memo, provider grants, idle RSS) and those of issue 7
(PERFORMANCE.md) that issue 21 does not restate or tighten. Each target is in one of the two. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bench import report
from bench.report import Summary, Target
from idgate.edge.gate import STATEFUL_MEMO_SECONDS

NGINX = "nginx proxy_pass (keep-alive pool)"
APACHE_SC = "Apache + mod_auth_openidc, server-cache"
APACHE_CC = "Apache + mod_auth_openidc, client-cookie"
NGINX_TLS = "nginx proxy_pass with TLS (keep-alive pool)"
APACHE_TLS = "Apache + mod_auth_openidc, server-cache, with TLS (mod_ssl)"
MEMO = "idgate proxy, cookie session, 1 worker, memo on"
NO_MEMO = "idgate proxy, cookie session, 1 worker, memo off"
REDIS_MEMO = "idgate proxy, Redis sessions, 1 worker, memo on"
REDIS_NO_MEMO = "idgate proxy, Redis sessions, 1 worker, memo off"
AUTH = "idgate /oauth/auth (nginx auth_request answer), 1 worker"
#: A row named ``<row><variant>`` is ``<row>`` measured another way, compared with the references measured
#: that way too: a browser's request (``configs.BROWSER_HEADERS``), and each server's default logging.
BROWSER = ", browser-like request (15 more headers)"
LOGGED = ", default logging (to a file)"
#: Redis-session rows: this many sessions (one person's sign-ins), one per request in turn: the requests
#: in flight (32) carry different sessions, so none shares another's read (see ``Gate.resolve``).
REDIS_SESSIONS = 64
#: Issue 21: every idgate process, idle after sign-in, below this.
RSS_MIB = 64.0


def _lookup(sums: Sequence[Summary]) -> Callable[[str], Summary | None]:
    by = {s.name: s for s in sums}
    return by.get


def _times(what: str, row: Summary | None, ref: Summary | None, wanted: float) -> list[Target]:
    """``row`` at least ``wanted`` times ``ref`` in requests per second (none when ``row`` was not run)."""
    if row is None:
        return []
    return [report.at_least(what, report.ratio(row.rps, ref.rps if ref else None), wanted)]


def _cpu(what: str, row: Summary | None, wanted: float) -> list[Target]:
    return [] if row is None else [report.at_most(what, row.cpu_us, wanted, " µs")]


def issue21_targets(
    proxy: Sequence[Summary], prov: Sequence[Summary], idle_rss_kb: Mapping[str, Mapping[int, int]]
) -> list[Target]:
    """Issue 21's targets: what people run (default logging, a browser's request) and where idgate lost."""
    get = _lookup(proxy)
    apache, nginx = get(APACHE_SC), get(NGINX)
    out: list[Target] = []
    for row in (MEMO, NO_MEMO):
        memo = "on" if row == MEMO else "off"
        out += _times(f"default logging ÷ logs off (1 worker, memo {memo})", get(row + LOGGED), get(row), 0.9)
    out += _times("small request, memo: × Apache+OIDC server-cache", get(MEMO), apache, 3.0)
    out += _times("small request, memo: × nginx proxy", get(MEMO), nginx, 0.75)
    out += _cpu("small request, memo: CPU per request", get(MEMO), 30.0)
    out += _times(
        "browser-like request, memo: × Apache+OIDC server-cache (browser-like)",
        get(MEMO + BROWSER),
        get(APACHE_SC + BROWSER),
        2.5,
    )
    out += _times("cookie session without memo: × Apache+OIDC server-cache", get(NO_MEMO), apache, 2.0)
    out += _cpu("cookie session without memo: CPU per request", get(NO_MEMO), 45.0)
    out += _times("Redis sessions without memo: × Apache+OIDC server-cache", get(REDIS_NO_MEMO), apache, 1.0)
    out += grant_targets(prov)
    if idle_rss_kb:
        out.append(rss_target(idle_rss_kb))
    return out


def grant_targets(prov: Sequence[Summary]) -> list[Target]:
    """idgate at least 1.0 times oidc-provider for each grant, 1 worker and 2, in every round (rounds
    alternate the providers, so round i of one pairs with round i of the other), not on the median."""
    get = _lookup(prov)
    out = []
    for grant in ("code exchange", "refresh grant"):
        ref = get(f"{grant}: oidc-provider")
        for who, workers in (("idgate", "1 worker"), ("idgate 2 workers", "2 workers")):
            row = get(f"{grant}: {who}")
            if row is None:
                continue
            rounds = _round_ratios(row, ref)
            median = report.ratio(row.rps, ref.rps if ref else None)
            measured = (
                "–"
                if not rounds or median is None
                else f"{median:.2f}× (rounds: {', '.join(f'{r:.2f}×' for r in rounds)})"
            )
            out.append(
                Target(
                    f"provider {grant}, idgate {workers}: × oidc-provider, every round",
                    "≥ 1.00×",
                    measured,
                    None if not rounds else min(rounds) >= 1.0,
                )
            )
    return out


def _round_ratios(row: Summary, ref: Summary | None) -> list[float]:
    """Round i of ``row`` ÷ round i of ``ref``; none when either was not measured in every round."""
    if ref is None or not row.rps_rounds or len(row.rps_rounds) != len(ref.rps_rounds):
        return []
    if not all(ref.rps_rounds) or not all(row.rps_rounds):
        return []
    return [a / b for a, b in zip(row.rps_rounds, ref.rps_rounds, strict=True)]


def rss_target(idle_rss_kb: Mapping[str, Mapping[int, int]]) -> Target:
    """The largest idle idgate process (every instance, every worker and supervisor) below :data:`RSS_MIB`."""
    idgate = [
        (kb / 1024, name)
        for name, tree in idle_rss_kb.items()
        if name.startswith("idgate")
        for kb in tree.values()
    ]
    if not idgate:
        return Target("idle RSS per idgate process (largest)", f"< {RSS_MIB:.0f} MiB", "–", None)
    mib, name = max(idgate)
    return Target(
        "idle RSS per idgate process (largest)",
        f"< {RSS_MIB:.0f} MiB",
        f"{mib:.1f} MiB ({name})",
        mib < RSS_MIB,
    )


def issue7_targets(sums: Sequence[Summary]) -> list[Target]:
    """Issue 7's proxy targets that issue 21 leaves as they were (idgate against Apache, against nginx with
    the memo, CPU per request and idle RSS are issue 21's now, tightened or restated)."""
    get = _lookup(sums)
    nginx, apache = get(NGINX), get(APACHE_SC)
    nomemo = get(NO_MEMO)
    out = _times("idgate (1 worker, no memo) vs nginx proxy", nomemo, nginx, 0.5)
    if nomemo:
        out.append(
            report.Target(
                "idgate p99 below Apache+OIDC server-cache's",
                "<",
                f"{report.fmt_num(nomemo.p99_ms, 2)} vs "
                f"{report.fmt_num(apache.p99_ms if apache else None, 2)} ms",
                None
                if apache is None or nomemo.p99_ms is None or apache.p99_ms is None
                else nomemo.p99_ms < apache.p99_ms,
            )
        )
    for memo_on, wanted in ((False, 0.5), (True, 0.75)):  # what the design reaches at all (bench/floor.py)
        floor = get(f"floor: minimal Python proxy, same cookie check, memo {'on' if memo_on else 'off'}")
        what = f"the floor ({'memo' if memo_on else 'no memo'}) vs nginx proxy (informative)"
        out += _times(what, floor, nginx, wanted)
    auth = get(AUTH)
    if auth:
        out.append(
            report.at_least(
                "/oauth/auth answers/s on one core-equivalent (1e6 / CPU µs)", auth.per_core, 25_000, "/s", 0
            )
        )
    redis = get(REDIS_NO_MEMO)
    if redis:
        out.append(
            report.at_most("Redis round trips per request (no memo)", redis.redis_per_request, 1.0, "", 3)
        )
    redis = get(REDIS_MEMO)
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

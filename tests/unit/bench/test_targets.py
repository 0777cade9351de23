"""bench/targets.py: issue 21's and issue 7's targets, met or missed, from a run's summaries."""

from __future__ import annotations

from bench.report import Sample, Summary, summarise
from bench.run import IDGATE_VARIANTS, LOGGED_VARIANTS
from bench.targets import (
    APACHE_SC,
    BROWSER,
    LOGGED,
    MEMO,
    NGINX,
    NO_MEMO,
    REDIS_NO_MEMO,
    REDIS_SESSIONS,
    issue7_targets,
    issue21_targets,
)
from bench.wrk import WrkResult


def row(name: str, *rps: float, cpu: float = 50.0, p99: float = 3.0, redis: float | None = None) -> Summary:
    """A summary of one round per ``rps`` given."""
    results = [WrkResult(int(r * 10), 10.0, r, {50.0: 1.0, 99.0: p99}, {}, 0) for r in rps]
    return summarise(name, [Sample(result, cpu, redis) for result in results])


PROXY = [
    row(NGINX, 40_000, cpu=19.0),
    row(APACHE_SC, 10_000, cpu=150.0, p99=9.0),
    row(MEMO, 31_000, cpu=28.0),
    row(NO_MEMO, 14_000, cpu=70.0, p99=5.0),
    row(NGINX + BROWSER, 30_000),
    row(APACHE_SC + BROWSER, 8_000),
    row(MEMO + BROWSER, 16_000),
    row(MEMO + LOGGED, 27_900),
    row(NO_MEMO + LOGGED, 11_000),
    row(REDIS_NO_MEMO, 6_000, cpu=170.0, redis=0.9998),
    row("idgate proxy, Redis sessions, 1 worker, memo on", 22_400, redis=REDIS_SESSIONS / 2 / 22_400),
]
PROVIDER = [
    row("code exchange: idgate", 1_900, 2_100),
    row("code exchange: idgate 2 workers", 2_400, 2_500),
    row("code exchange: oidc-provider", 2_000, 2_000),
    row("refresh grant: idgate", 1_500, 1_500),
    Summary("refresh grant: idgate 2 workers", 0.0, None, None, None, 0, 0, note="not supported: x"),
    row("refresh grant: oidc-provider", 1_600, 1_400),
]
RSS = {
    "idgate-1w": {10: 60 * 1024},
    "idgate-2w": {11: 50 * 1024, 12: 63 * 1024},
    "oidc-provider": {13: 90 * 1024},
}


def test_issue_21_each_target_from_its_rows() -> None:
    got = {t.what: t for t in issue21_targets(PROXY, PROVIDER, RSS)}
    logging_on = got["default logging ÷ logs off (1 worker, memo on)"]
    assert (logging_on.measured, logging_on.met) == ("0.90×", True)
    assert got["default logging ÷ logs off (1 worker, memo off)"].met is False  # 0.79 times
    assert got["small request, memo: × Apache+OIDC server-cache"].measured == "3.10×"
    assert got["small request, memo: × nginx proxy"].met is True  # 0.775 times
    assert got["small request, memo: CPU per request"].met is True
    browser = got["browser-like request, memo: × Apache+OIDC server-cache (browser-like)"]
    assert (browser.measured, browser.met) == ("2.00×", False)
    assert got["cookie session without memo: × Apache+OIDC server-cache"].met is False  # 1.40 times
    assert got["cookie session without memo: CPU per request"].measured == "70.0 µs"
    assert got["Redis sessions without memo: × Apache+OIDC server-cache"].measured == "0.60×"
    rss = got["idle RSS per idgate process (largest)"]
    assert (rss.measured, rss.met) == ("63.0 MiB (idgate-2w)", True)  # oidc-provider's is not idgate's


def test_issue_21_grants_are_met_only_when_every_round_is() -> None:
    got = {t.what: t for t in issue21_targets([], PROVIDER, {})}
    one = got["provider code exchange, idgate 1 worker: × oidc-provider, every round"]
    assert one.measured == "1.00× (rounds: 0.95×, 1.05×)" and one.met is False  # the median alone would pass
    two = got["provider code exchange, idgate 2 workers: × oidc-provider, every round"]
    assert two.met is True
    refresh = got["provider refresh grant, idgate 1 worker: × oidc-provider, every round"]
    assert refresh.measured == "1.00× (rounds: 0.94×, 1.07×)" and refresh.met is False
    assert got["provider refresh grant, idgate 2 workers: × oidc-provider, every round"].met is None
    assert "idle RSS per idgate process (largest)" not in got  # RSS not measured: no row


def test_issue_7_keeps_only_what_issue_21_does_not_restate() -> None:
    got = {t.what: t for t in issue7_targets(PROXY)}
    assert got["idgate (1 worker, no memo) vs nginx proxy"].measured == "0.35×"
    assert got["idgate p99 below Apache+OIDC server-cache's"].met is True
    assert got["Redis round trips per request (no memo)"].met is True
    memo = got["Redis round trips per request, memo (one per session per 2 s)"]
    assert memo.met is True and memo.measured == "0.00143 (1.00 per session per 2 s)"
    assert len(got) == 4  # against Apache, against nginx with the memo, CPU per request: issue 21's


def test_rows_not_measured_give_no_targets() -> None:
    assert issue7_targets([row(NGINX, 40_000)]) == []
    assert issue21_targets([row(NGINX, 40_000)], [], {}) == []


def test_the_runs_rows_are_named_as_the_targets_read_them() -> None:
    assert IDGATE_VARIANTS["idgate-1w"].row == MEMO
    assert IDGATE_VARIANTS["idgate-1w-nomemo"].row == NO_MEMO
    assert {v.row for v in LOGGED_VARIANTS.values()} == {MEMO + LOGGED, NO_MEMO + LOGGED}

"""bench/targets.py: the proxy table's targets, met or missed, from a run's summaries."""

from __future__ import annotations

from bench.report import Sample, Summary, summarise
from bench.targets import APACHE_SC, NGINX, REDIS_SESSIONS, proxy_targets
from bench.wrk import WrkResult


def row(name: str, rps: float, cpu: float, p99: float = 3.0, redis: float | None = None) -> Summary:
    result = WrkResult(int(rps * 10), 10.0, rps, {50.0: 1.0, 99.0: p99}, {}, 0)
    return summarise(name, [Sample(result, cpu, redis)])


def test_each_target_from_its_rows() -> None:
    sums = [
        row(NGINX, 40_000, 19.0),
        row(APACHE_SC, 10_000, 150.0, p99=9.0),
        row("idgate proxy, cookie session, 1 worker, memo on", 22_000, 44.0),
        row("idgate proxy, cookie session, 1 worker, memo off", 14_000, 70.0, p99=5.0),
        row("idgate proxy, Redis sessions, 1 worker, memo off", 6_000, 170.0, redis=0.9998),
        row(
            "idgate proxy, Redis sessions, 1 worker, memo on", 22_400, 45.0, redis=REDIS_SESSIONS / 2 / 22_400
        ),
    ]
    got = {t.what: t for t in proxy_targets(sums)}
    assert got["idgate (1 worker, no memo) vs Apache+OIDC server-cache"].measured == "1.40×"
    assert got["idgate (1 worker, no memo) vs Apache+OIDC server-cache"].met is False
    assert got["idgate (1 worker, memo) vs nginx proxy"].measured == "0.55×"
    assert got["idgate CPU per request (1 worker, memo)"].met is True
    assert got["idgate p99 below Apache+OIDC server-cache's"].met is True
    assert got["Redis round trips per request (no memo)"].met is True
    memo = got["Redis round trips per request, memo (one per session per 2 s)"]
    assert memo.met is True and memo.measured == "0.00143 (1.00 per session per 2 s)"


def test_rows_not_measured_give_no_targets() -> None:
    assert proxy_targets([row(NGINX, 40_000, 19.0)]) == []

"""The edge's counters (idgate.edge.stats) and its exported metrics; the per-connection timers that are
re-armed lazily across keep-alive exchanges; reuse of the signed assertion and of cookie splits."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from tests.unit.edge.conftest import NOW, Client, Env, alice, proxy_settings, read_response, seal

from idgate.edge.cookies import SPLIT_MEMO_SIZE
from idgate.edge.gate import Gate
from idgate.edge.limits import EdgeLimits
from idgate.edge.stats import LATENCY_BUCKETS, EdgeStats, EdgeStatsCollector
from idgate.proxy.assertion import AssertionSigner

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"


# -- counters and the collector -------------------------------------------------------------------------
def test_stats_count_requests_latency_errors_and_decisions() -> None:
    stats = EdgeStats()
    stats.request("proxy", "app", 200, 0.0007)
    stats.request("proxy", "app", 200, 0.002)
    stats.request("proxy", "app", 504, 60.5, "upstream_timeout request_id=abc")
    stats.request("none", "", 404, 0.0001)
    stats.decision("app", True, frozenset({"authenticated"}))
    stats.decision("app", False, frozenset({"group", "email"}))
    registry = CollectorRegistry()
    registry.register(EdgeStatsCollector(stats))
    text = generate_latest(registry).decode()
    assert 'idgate_requests_total{deployment="app",role="proxy",status="200"} 2.0' in text
    assert 'idgate_requests_total{deployment="",role="none",status="404"} 1.0' in text
    assert 'idgate_upstream_errors_total{deployment="app",reason="upstream_timeout"} 1.0' in text
    assert 'idgate_request_duration_seconds_bucket{deployment="app",le="0.0005",role="proxy"} 0.0' in text
    assert 'idgate_request_duration_seconds_bucket{deployment="app",le="0.001",role="proxy"} 1.0' in text
    assert 'idgate_request_duration_seconds_bucket{deployment="app",le="30.0",role="proxy"} 2.0' in text
    assert 'idgate_request_duration_seconds_bucket{deployment="app",le="+Inf",role="proxy"} 3.0' in text
    assert 'idgate_request_duration_seconds_count{deployment="app",role="proxy"} 3.0' in text
    assert 'idgate_decisions_total{decision="allow",deployment="app",reason="authenticated"} 1.0' in text
    assert 'idgate_decisions_total{decision="deny",deployment="app",reason="email"} 1.0' in text
    assert 'idgate_decisions_total{decision="deny",deployment="app",reason="group"} 1.0' in text


def test_bucket_bounds_are_inclusive() -> None:
    stats = EdgeStats()
    stats.request("proxy", "app", 200, LATENCY_BUCKETS[0])
    [hist] = stats.latency.values()
    assert hist.counts[0] == 1


def test_flush_into_adds_deltas_to_prometheus_metrics() -> None:
    from idgate.runtime.metrics import Metrics

    metrics = Metrics(CollectorRegistry())
    stats = EdgeStats()
    stats.request("proxy", "app", 200, 0.003)
    stats.decision("app", True, frozenset({"authenticated"}))
    last = stats.flush_into(metrics, None)
    stats.request("proxy", "app", 200, 0.003)
    stats.flush_into(metrics, last)
    assert metrics.requests.labels("proxy", "app", "200")._value.get() == 2
    assert metrics.decisions.labels("app", "allow", "authenticated")._value.get() == 1
    child = metrics.latency.labels("proxy", "app")
    assert sum(b.get() for b in child._buckets) == 2
    assert child._sum.get() == pytest.approx(0.006)


async def test_edge_counts_each_exchange_and_decision(env: Env, client: Client) -> None:
    stats = env.edge.state.stats
    before = stats.snapshot()
    assert (await client.get("/x", headers=AUTH)).status == 200
    assert (await client.get("/x")).status == 302
    assert (await client.get("/x", host="unknown.test")).status == 404
    after = stats.snapshot()

    def delta(family: str, key: object) -> int:
        return int(after[family].get(key, 0) - before[family].get(key, 0))

    assert delta("requests", ("proxy", "app", 200)) == 1
    assert delta("requests", ("proxy", "app", 302)) == 1
    assert delta("requests", ("none", "", 404)) == 1
    assert delta("decisions", ("app", "allow", "authenticated")) == 1
    assert delta("decisions", ("app", "deny", "unauthenticated")) == 1


# -- timers across keep-alive exchanges -------------------------------------------------------------
@pytest.fixture
def limits() -> EdgeLimits:
    return EdgeLimits(upstream_timeout=0.5, header_timeout=0.5, keepalive_timeout=0.8)


async def test_upstream_timeout_still_fires_after_fast_exchanges(env: Env, client: Client) -> None:
    for _ in range(5):
        assert (await client.get("/x", headers=AUTH)).status == 200
    started = time.monotonic()
    r = await asyncio.wait_for(client.get("/slow", headers=AUTH), 5)
    assert r.status == 504
    assert time.monotonic() - started < 2.0


async def test_header_timeout_still_fires_after_exchanges(env: Env, client: Client) -> None:
    for _ in range(3):
        assert (await client.get("/x", headers=AUTH)).status == 200
    await client.send(b"GET / HTTP/1.1\r\nHost: app.te")
    started = time.monotonic()
    r = await asyncio.wait_for(read_response(client.reader), 5)
    assert r.status == 408
    assert time.monotonic() - started < 2.0


async def test_idle_keepalive_closes_after_exchanges(env: Env, client: Client) -> None:
    for _ in range(3):
        assert (await client.get("/oauth/healthy")).status == 200
        await asyncio.sleep(0.3)  # each exchange pushes the idle deadline back
    assert (await client.get("/oauth/healthy")).status == 200  # open 0.9 s after the first exchange
    assert await asyncio.wait_for(client.closed(), 5)


# -- reuse -------------------------------------------------------------------------------------------
def test_assertion_is_reused_per_claims_until_half_its_lifetime() -> None:
    signer = AssertionSigner([b"k" * 32], issuer="https://app.test", audience="http://up")
    first, renew = signer.assertion(alice(), NOW)
    assert renew == int(NOW) + 30
    again, _ = signer.assertion(alice(created_at=NOW + 5), NOW + 29)  # same claims, another session object
    assert again == first
    other, _ = signer.assertion(alice(email="bob@example.com"), NOW + 1)
    assert other != first
    assert signer.assertion(alice(), NOW + 30)[0] != first


def test_assertion_cache_is_bounded() -> None:
    signer = AssertionSigner([b"k" * 32], issuer="https://app.test", audience="http://up", cache_size=3)
    for i in range(10):
        signer.assertion(alice(user=f"u{i}"), NOW)
    assert len(signer._cache) == 3
    off = AssertionSigner([b"k" * 32], issuer="https://app.test", audience="http://up", cache_size=0)
    off.assertion(alice(), NOW)
    assert off._cache == {}


def test_memo_off_still_reuses_the_assertion() -> None:
    gate = Gate(proxy_settings("http://127.0.0.1:9"), memo_size=0)
    sealed = seal(alice())
    a = gate.open(sealed, NOW + 1)
    b = gate.open(sealed, NOW + 2)
    assert a is not None and b is not None and a is not b
    assert a.header_lines(NOW + 1) == b.header_lines(NOW + 2)  # type: ignore[union-attr]


def test_cookie_split_memo_is_bounded_and_exact() -> None:
    gate = Gate(proxy_settings("http://127.0.0.1:9"))
    header = b"a=1; app_oauth2_proxy=SEALED; b=2"
    assert gate.split([header]) == ("SEALED", b"a=1; b=2")
    assert gate.split([header]) == ("SEALED", b"a=1; b=2")
    for i in range(SPLIT_MEMO_SIZE + 10):
        gate.split([b"x=%d" % i])
    assert len(gate._split_memo) == SPLIT_MEMO_SIZE
    assert gate.split([b"app_oauth2_proxy_0=A", b"app_oauth2_proxy_1=B"]) == ("AB", None)

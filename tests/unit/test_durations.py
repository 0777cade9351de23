"""Durations as plain counters (idgate.durations): buckets, the scrape-time collector, the multiprocess
flush; the SQL storage times every operation; the proxy's refresh records become
``idgate_refreshes_total{role="proxy"}`` and ``idgate_refresh_duration_seconds``."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, generate_latest

from idgate.durations import BUCKETS, STORAGE, DurationFamily, DurationsCollector, Timer, flush_into
from idgate.runtime.metrics import Metrics, MetricsHandler
from idgate.storage import Client, open_storage


def exposition(*families: DurationFamily) -> str:
    registry = CollectorRegistry()
    registry.register(DurationsCollector(families))
    return generate_latest(registry).decode()


def test_bucket_bounds_are_inclusive_and_beyond_the_last_is_inf() -> None:
    timer = Timer()
    timer.observe(BUCKETS[0])
    timer.observe(BUCKETS[-1] * 10)
    assert timer.counts[0] == 1 and timer.counts[-1] == 1 and sum(timer.counts) == 2


def test_collector_exports_cumulative_buckets_sum_and_count() -> None:
    family = DurationFamily("idgate_test_duration_seconds", "A test family.", ("store", "operation"))
    load = family.timer("cookie", "load")
    assert family.timer("cookie", "load") is load  # one series per label set
    load.observe(0.00002)
    load.observe(0.003)
    family.timer("redis", "save")  # made at start-up, never observed: exported with zeros
    text = exposition(family)
    assert "# TYPE idgate_test_duration_seconds histogram" in text
    assert 'idgate_test_duration_seconds_bucket{le="1e-05",operation="load",store="cookie"} 0.0' in text
    assert 'idgate_test_duration_seconds_bucket{le="2.5e-05",operation="load",store="cookie"} 1.0' in text
    assert 'idgate_test_duration_seconds_bucket{le="0.005",operation="load",store="cookie"} 2.0' in text
    assert 'idgate_test_duration_seconds_bucket{le="+Inf",operation="load",store="cookie"} 2.0' in text
    assert 'idgate_test_duration_seconds_count{operation="load",store="cookie"} 2.0' in text
    assert 'idgate_test_duration_seconds_sum{operation="load",store="cookie"} 0.00302' in text
    assert 'idgate_test_duration_seconds_count{operation="save",store="redis"} 0.0' in text


def test_flush_into_adds_only_what_is_new_to_prometheus_histograms() -> None:
    """``--workers N``: each worker adds its observations to the multiprocess-mode histograms."""
    from prometheus_client import Histogram

    family = DurationFamily("idgate_flush_duration_seconds", "A test family.", ("operation",))
    registry = CollectorRegistry()
    histogram = Histogram(family.name, "x", ["operation"], buckets=BUCKETS, registry=registry)
    timer = family.timer("get")
    timer.observe(0.0002)
    last = flush_into({family.name: histogram}, None, (family,))
    timer.observe(0.2)
    flush_into({family.name: histogram}, last, (family,))
    text = generate_latest(registry).decode()
    assert 'idgate_flush_duration_seconds_count{operation="get"} 2.0' in text
    assert 'idgate_flush_duration_seconds_bucket{le="0.00025",operation="get"} 1.0' in text
    assert 'idgate_flush_duration_seconds_bucket{le="0.25",operation="get"} 2.0' in text


def test_multiprocess_metrics_have_a_histogram_per_family() -> None:
    metrics = Metrics(CollectorRegistry(), edge_families=True)
    assert set(metrics.durations) == {
        "idgate_session_store_duration_seconds",
        "idgate_storage_duration_seconds",
    }


async def test_sql_storage_times_each_operation() -> None:
    def counts() -> dict[str, int]:
        return {labels[0]: sum(c) for labels, (c, _) in STORAGE.snapshot().items()}

    storage = await open_storage("sqlite:///:memory:")
    try:
        before = counts()
        await storage.create(Client(id="c", secret="s", redirect_uris=("http://x",)))
        await storage.get(Client, "c")
        await storage.list(Client)
        await storage.delete(Client, "c")
        await storage.garbage_collect(0.0)
        after = counts()
    finally:
        await storage.close()
    moved = {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}
    assert moved == {"create": 1, "get": 1, "list": 1, "delete": 1, "garbage_collect": 1}


def test_proxy_refresh_records_count_by_result_and_time_the_proxys_only() -> None:
    registry = CollectorRegistry()
    handler = MetricsHandler(Metrics(registry, edge_families=False))

    def record(logger: str, **extra: object) -> None:
        rec = logging.LogRecord(logger, logging.INFO, __file__, 1, "refresh", None, None)
        rec.__dict__.update(extra)
        handler.handle(rec)

    record("idgate.sessions", event="refresh", deployment="app", result="success", duration_ms=42.0)
    record("idgate.sessions", event="refresh", deployment="app", result="refused", duration_ms=7.5)
    record("idgate.provider.tokens", event="refresh", result="success")  # the grant, at the provider
    text = generate_latest(registry).decode()
    assert 'idgate_refreshes_total{result="success",role="proxy"} 1.0' in text
    assert 'idgate_refreshes_total{result="refused",role="proxy"} 1.0' in text
    assert 'idgate_refreshes_total{result="success",role="provider"} 1.0' in text
    assert 'idgate_refresh_duration_seconds_count{result="success"} 1.0' in text
    assert 'idgate_refresh_duration_seconds_sum{result="success"} 0.042' in text
    assert 'idgate_refresh_duration_seconds_bucket{le="0.01",result="refused"} 1.0' in text


def test_every_metric_family_is_in_the_docs_table() -> None:
    from pathlib import Path

    registry = CollectorRegistry()
    Metrics(registry, edge_families=True)  # the multiprocess set: every family, as prometheus objects
    names = {m.name + ("_total" if m.type == "counter" else "") for m in registry.collect()}
    docs = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    assert len(names) == 11
    assert [n for n in sorted(names) if f"| `{n}` |" not in docs] == []

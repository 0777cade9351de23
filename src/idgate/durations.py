"""Durations of session-store and storage operations as plain bucket counters, exported at scrape time.

The edge's pattern (:mod:`idgate.edge.stats`) for operations that run on, or next to, the request path::

    family                                   measured by                                    labels
    idgate_session_store_duration_seconds    idgate.sessions.cookie_store (cookie: open,    store, operation
                                               seal), idgate.sessions.redis_store (each
                                               round trip to Redis)
    idgate_storage_duration_seconds          idgate.storage.sql.postgres and .sqlite        operation
                                               (each public method of their storage)

A measuring site takes its :class:`Timer` once, when it is built::

    self._load = SESSION_STORE.timer("cookie", "load")          # at start-up
    ...
    t0 = perf_counter(); ...; self._load.observe(perf_counter() - t0)   # per operation

``observe`` is a bisect and two additions: no allocation, no lock (one event loop per process), no
prometheus-client object. :class:`DurationsCollector` exports every family at scrape time; with
``--workers N`` (prometheus-client's multiprocess mode, where a collector would report one worker only)
:func:`flush_into` adds what was observed since the last flush to ``Histogram`` objects instead
(:func:`idgate.runtime.metrics.flush_edge_stats` calls it every second).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

__all__ = [
    "BUCKETS",
    "SESSION_STORE",
    "STORAGE",
    "DurationFamily",
    "DurationsCollector",
    "Timer",
    "flush_into",
]

#: Bucket bounds (seconds): from a cookie's 10-20 µs AES-GCM open to Redis's 1 s command timeout.
BUCKETS: tuple[float, ...] = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class Timer:
    """One histogram series: per-bucket counts (not cumulative; the last one is ``+Inf``) and a sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def snapshot(self) -> tuple[list[int], float]:
        return list(self.counts), self.total


class DurationFamily:
    """A histogram family whose series (:class:`Timer`) are made when a measuring site is built."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._timers: dict[tuple[str, ...], Timer] = {}

    def timer(self, *labels: str) -> Timer:
        """The series for ``labels`` (one per label set: sites with the same labels share it)."""
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} has labels {self.labelnames}, got {labels}")
        found = self._timers.get(labels)
        if found is None:
            found = self._timers[labels] = Timer()
        return found

    def snapshot(self) -> dict[tuple[str, ...], tuple[list[int], float]]:
        return {labels: timer.snapshot() for labels, timer in list(self._timers.items())}


SESSION_STORE = DurationFamily(
    "idgate_session_store_duration_seconds",
    "Proxy session store operations: opening or sealing a cookie, or one round trip to Redis.",
    ("store", "operation"),
)
STORAGE = DurationFamily(
    "idgate_storage_duration_seconds",
    "Provider storage operations (SQLite or PostgreSQL), by method.",
    ("operation",),
)
FAMILIES: tuple[DurationFamily, ...] = (SESSION_STORE, STORAGE)


class DurationsCollector:
    """A prometheus-client custom collector exporting ``families`` (all of this module's by default)."""

    def __init__(self, families: tuple[DurationFamily, ...] = FAMILIES) -> None:
        self._families = families

    def describe(self) -> list[Metric]:
        return list(self._collect(empty=True))

    def collect(self) -> Iterator[Metric]:
        yield from self._collect(empty=False)

    def _collect(self, *, empty: bool) -> Iterator[Metric]:
        from prometheus_client.core import HistogramMetricFamily

        bounds = (*(str(b) for b in BUCKETS), "+Inf")
        for family in self._families:
            metric = HistogramMetricFamily(family.name, family.documentation, labels=list(family.labelnames))
            if not empty:
                for labels, (counts, total) in sorted(family.snapshot().items()):
                    running = 0
                    buckets: list[tuple[str, float]] = []
                    for bound, n in zip(bounds, counts, strict=True):
                        running += n
                        buckets.append((bound, running))
                    metric.add_metric(list(labels), buckets, total)
            yield metric


Snapshot = dict[str, dict[tuple[str, ...], tuple[list[int], float]]]


def flush_into(
    histograms: Mapping[str, Any], last: Snapshot | None, families: tuple[DurationFamily, ...] = FAMILIES
) -> Snapshot:
    """Add what was observed since snapshot ``last`` to prometheus-client ``Histogram`` objects.

    ``histograms`` maps a family's name to a ``Histogram`` with the same labels and :data:`BUCKETS`.
    Returns the snapshot to pass next time. For multiprocess mode only.
    """
    now: Snapshot = {family.name: family.snapshot() for family in families}
    last = last or {}
    for name, series in now.items():
        histogram = histograms.get(name)
        if histogram is None:
            continue
        before = last.get(name, {})
        for labels, (counts, total) in series.items():
            was, was_total = before.get(labels, ([0] * len(counts), 0.0))
            if counts == was:
                continue
            child = histogram.labels(*labels)
            # The Histogram child keeps per-bucket values (not cumulative) and a sum, like Timer.
            for value, n, m in zip(child._buckets, counts, was, strict=True):
                if n != m:
                    value.inc(n - m)
            child._sum.inc(total - was_total)
    return now

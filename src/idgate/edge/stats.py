"""The edge's request metrics as plain counters, and a prometheus-client collector that exports them.

Counting a request is a few dict updates on integers (no log record, no metric object, no lock: the
edge runs on one event loop thread)::

    EdgeStats.request(role, deployment, status, seconds)   idgate_requests_total{role,deployment,status}
                                                           idgate_request_duration_seconds{role,deployment}
                                                           idgate_upstream_errors_total{deployment,reason}
                                                             (502/504 whose reason starts with upstream_)
    EdgeStats.decision(deployment, allowed, reasons)       idgate_decisions_total{deployment,decision,reason}
                                                             (one per reason of the decision)
    EdgeStats.log_lines_dropped += n                       idgate_log_lines_dropped_total
                                                             (access lines stderr did not take,
                                                             idgate.edge.access_log)

The metric names, labels and buckets are those of :class:`idgate.runtime.metrics.Metrics`, which once
derived them from the per-request log records; :class:`EdgeStatsCollector` reads the counters at scrape time.
Register it instead of counting those families from log records, never as well (the names would be
registered twice)::

    from prometheus_client import REGISTRY
    REGISTRY.register(EdgeStatsCollector())          # STATS: every edge of this process

A collector reports its own process only: with prometheus-client's multiprocess mode (``--workers N``)
call :meth:`EdgeStats.flush_into` periodically instead, which adds what was counted since the last flush
to multiprocess-mode ``Counter``/``Histogram`` objects.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: Latency buckets (seconds), the same as ``idgate.runtime.metrics.LATENCY_BUCKETS``.
LATENCY_BUCKETS: tuple[float, ...] = (
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
    5.0,
    10.0,
    30.0,
)
#: Distinct label sets kept per family; beyond it new ones are counted under ``overflow`` labels.
MAX_SERIES = 4096
_OVERFLOW = "overflow"


class _Latency:
    """One fixed-bucket histogram: per-bucket counts (not cumulative; the last one is ``+Inf``) and a sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class EdgeStats:
    """Request and decision counters of one process's edge(s)."""

    __slots__ = ("decisions", "latency", "log_lines_dropped", "requests", "upstream_errors")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], _Latency] = {}
        self.upstream_errors: dict[tuple[str, str], int] = {}
        self.decisions: dict[tuple[str, bool, frozenset[str]], int] = {}
        self.log_lines_dropped = 0

    def request(self, role: str, deployment: str, status: int, seconds: float, reason: str = "") -> None:
        """One answered request (``reason``: the edge's reason word, for upstream errors)."""
        key = (role, deployment, status)
        requests = self.requests
        n = requests.get(key)
        if n is not None:
            requests[key] = n + 1
        elif len(requests) < MAX_SERIES:
            requests[key] = 1
        else:
            over = (_OVERFLOW, _OVERFLOW, status)
            requests[over] = requests.get(over, 0) + 1
        lkey = (role, deployment)
        hist = self.latency.get(lkey)
        if hist is None:
            if len(self.latency) >= MAX_SERIES:
                lkey = (_OVERFLOW, _OVERFLOW)
            hist = self.latency.get(lkey)
            if hist is None:
                hist = self.latency[lkey] = _Latency()
        hist.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        hist.total += seconds
        if (status == 502 or status == 504) and reason.startswith("upstream_"):  # noqa: PLR1714
            ekey = (deployment, reason.split(" ", 1)[0])
            errors = self.upstream_errors
            if ekey in errors or len(errors) < MAX_SERIES:
                errors[ekey] = errors.get(ekey, 0) + 1

    def decision(self, deployment: str, allowed: bool, reasons: frozenset[str]) -> None:
        """One access decision (counted once per reason when exported)."""
        key = (deployment, allowed, reasons)
        decisions = self.decisions
        n = decisions.get(key)
        if n is not None:
            decisions[key] = n + 1
        elif len(decisions) < MAX_SERIES:
            decisions[key] = 1
        else:
            over = (_OVERFLOW, allowed, frozenset({_OVERFLOW}))
            decisions[over] = decisions.get(over, 0) + 1

    # -- reading ---------------------------------------------------------------------------------------
    def decision_counts(self) -> dict[tuple[str, str, str], int]:
        """``(deployment, "allow"|"deny", reason) -> count``, one per reason (``""`` when none)."""
        out: dict[tuple[str, str, str], int] = {}
        for (deployment, allowed, reasons), n in list(self.decisions.items()):
            verdict = "allow" if allowed else "deny"
            for reason in sorted(reasons) or ("",):
                key = (deployment, verdict, reason)
                out[key] = out.get(key, 0) + n
        return out

    def snapshot(self) -> dict[str, Any]:
        """A copy of every counter (for :meth:`flush_into` and tests)."""
        return {
            "requests": dict(self.requests),
            "latency": {k: (list(h.counts), h.total) for k, h in list(self.latency.items())},
            "upstream_errors": dict(self.upstream_errors),
            "decisions": self.decision_counts(),
            "log_lines_dropped": self.log_lines_dropped,
        }

    def flush_into(self, metrics: Any, last: dict[str, Any] | None) -> dict[str, Any]:
        """Add what was counted since snapshot ``last`` to prometheus-client metric objects.

        ``metrics`` has ``requests``, ``latency``, ``upstream_errors``, ``decisions`` and
        ``log_lines_dropped`` like
        :class:`idgate.runtime.metrics.Metrics`. Returns the snapshot to pass next time. For
        multiprocess mode, where a custom collector would report one worker only.
        """
        now = self.snapshot()
        last = last or {"requests": {}, "latency": {}, "upstream_errors": {}, "decisions": {}}
        for (role, deployment, status), n in now["requests"].items():
            d = n - last["requests"].get((role, deployment, status), 0)
            if d:
                metrics.requests.labels(role, deployment, str(status)).inc(d)
        for (role, deployment), (counts, total) in now["latency"].items():
            before, before_total = last["latency"].get((role, deployment), ([0] * len(counts), 0.0))
            child = metrics.latency.labels(role, deployment)
            # prometheus-client's Histogram child keeps per-bucket values (not cumulative) and a sum:
            # add the deltas to them (observing once per request would cost what this module saves).
            for value, n, was in zip(child._buckets, counts, before, strict=True):
                if n != was:
                    value.inc(n - was)
            if total != before_total:
                child._sum.inc(total - before_total)
        for (deployment, reason), n in now["upstream_errors"].items():
            d = n - last["upstream_errors"].get((deployment, reason), 0)
            if d:
                metrics.upstream_errors.labels(deployment, reason).inc(d)
        for (deployment, verdict, reason), n in now["decisions"].items():
            d = n - last["decisions"].get((deployment, verdict, reason), 0)
            if d:
                metrics.decisions.labels(deployment, verdict, reason).inc(d)
        dropped = now["log_lines_dropped"] - last.get("log_lines_dropped", 0)
        if dropped:
            metrics.log_lines_dropped.inc(dropped)
        return now


#: The process's stats: every edge counts here unless given its own.
STATS = EdgeStats()


class EdgeStatsCollector:
    """A prometheus-client custom collector exporting :class:`EdgeStats` (``STATS`` by default)."""

    def __init__(self, stats: Iterable[EdgeStats] | EdgeStats | None = None) -> None:
        if stats is None:
            stats = STATS
        self._stats: tuple[EdgeStats, ...] = (stats,) if isinstance(stats, EdgeStats) else tuple(stats)

    def describe(self) -> list[Metric]:
        """The families (without samples), so registering checks the names once."""
        return list(self._families(empty=True))

    def collect(self) -> Iterator[Metric]:
        """The families with the current counts."""
        yield from self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        requests = CounterMetricFamily(
            "idgate_requests_total",
            "HTTP requests answered on the public listener.",
            labels=["role", "deployment", "status"],
        )
        latency = HistogramMetricFamily(
            "idgate_request_duration_seconds",
            "Time from the first byte of a request to the end of its response.",
            labels=["role", "deployment"],
        )
        errors = CounterMetricFamily(
            "idgate_upstream_errors_total",
            "Requests the upstream did not answer properly (502/504 from the edge), by the edge's reason.",
            labels=["deployment", "reason"],
        )
        decisions = CounterMetricFamily(
            "idgate_decisions_total",
            "Access decisions of the proxies, one per reason of each decision.",
            labels=["deployment", "decision", "reason"],
        )
        dropped = CounterMetricFamily(
            "idgate_log_lines_dropped_total",
            "Access lines dropped because stderr did not take them (a pipe nobody reads, a full disk).",
        )
        if not empty:
            req: dict[tuple[str, str, int], int] = {}
            lat: dict[tuple[str, str], tuple[list[int], float]] = {}
            err: dict[tuple[str, str], int] = {}
            dec: dict[tuple[str, str, str], int] = {}
            lines_dropped = 0
            for stats in self._stats:
                snap = stats.snapshot()
                for k, n in snap["requests"].items():
                    req[k] = req.get(k, 0) + n
                for k, (counts, total) in snap["latency"].items():
                    have = lat.get(k)
                    if have is None:
                        lat[k] = (counts, total)
                    else:
                        lat[k] = ([a + b for a, b in zip(have[0], counts, strict=True)], have[1] + total)
                for k, n in snap["upstream_errors"].items():
                    err[k] = err.get(k, 0) + n
                for k, n in snap["decisions"].items():
                    dec[k] = dec.get(k, 0) + n
                lines_dropped += snap["log_lines_dropped"]
            for (role, deployment, status), n in sorted(req.items()):
                requests.add_metric([role, deployment, str(status)], n)
            for (role, deployment), (counts, total) in sorted(lat.items()):
                buckets: list[tuple[str, float]] = []
                running = 0
                for bound, n in zip((*(str(b) for b in LATENCY_BUCKETS), "+Inf"), counts, strict=True):
                    running += n
                    buckets.append((bound, running))
                latency.add_metric([role, deployment], buckets, total)
            for (deployment, reason), n in sorted(err.items()):
                errors.add_metric([deployment, reason], n)
            for (deployment, verdict, reason), n in sorted(dec.items()):
                decisions.add_metric([deployment, verdict, reason], n)
            dropped.add_metric([], lines_dropped)
        yield requests
        yield latency
        yield errors
        yield decisions
        yield dropped

"""Prometheus metrics, derived from the structured log records idgate already writes and from the plain
counters of the edge and :mod:`idgate.durations`.

Two sources, one registry::

    source                              fields                       metric
    the edge (idgate.edge.stats),       role, deployment, status,    idgate_requests_total
      plain counters per request        duration                       {role,deployment,status}
                                                                     idgate_request_duration_seconds
                                                                       {role,deployment}
                                                                     idgate_upstream_errors_total
                                                                       {deployment,reason}
    the edge, per access decision       deployment, decision,        idgate_decisions_total
                                        reasons                        {deployment,decision,reason}
    the edge's access log               -                            idgate_log_lines_dropped_total
      (lines stderr did not take)
    event="login" (idgate.provider)     connector_id, result         idgate_logins_total{connector,result}
    event="refresh" (idgate.provider)   result                       idgate_refreshes_total{role,result}
    event="refresh" (idgate.sessions,   result, duration_ms          idgate_refreshes_total{role,result}
      the proxy's Refresher)                                         idgate_refresh_duration_seconds{result}
    event="key_rotation" (idgate.oidc)  -                            idgate_key_rotations_total
    idgate.durations, plain counters    store, operation             idgate_session_store_duration_seconds
      (session stores, SQL storage)                                    {store,operation}
                                                                     idgate_storage_duration_seconds
                                                                       {operation}

The per-request families are counted by the edge as integers (a log record per request cost a quarter
of the hot path); the provider's rare events come from the log records it writes anyway, through one
:class:`MetricsHandler`. ``role`` is ``proxy`` for a deployment's host, ``provider`` for the issuer's
host and ``none`` for a host idgate does not serve (its 404). ``reason`` on upstream errors is the
edge's reason word (``upstream_unreachable``, ``upstream_timeout`` ...).

Metrics are served with the probes by :mod:`idgate.runtime.health` on ``idgate.metrics_listen`` (default
``127.0.0.1:9180``; and on ``idgate.health_listen`` when that is set), never on the public listener.

With ``idgate serve --workers N`` every worker counts into prometheus-client's *multiprocess mode*
(``PROMETHEUS_MULTIPROC_DIR``: a directory of memory-mapped files, made by the supervisor before the
fork and removed when it exits, unless the operator chose one), and any worker answers a scrape with the
sum over all of them: the workers share the metrics port as they share the public one (``SO_REUSEPORT``),
so a scrape may land on any of them. The supervisor decides the mode once (:mod:`.processes`) and hands
it down; nothing here reads the environment.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from idgate.settings import Settings

__all__ = [
    "DEFAULT_METRICS_LISTEN",
    "Metrics",
    "MetricsHandler",
    "cleanup_multiprocess",
    "flush_edge_stats",
    "install_metrics",
    "prepare_multiprocess",
    "render_metrics",
]

DEFAULT_METRICS_LISTEN = "127.0.0.1:9180"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """idgate's metric families, registered in ``registry`` (the default registry when ``None``)."""

    def __init__(self, registry: CollectorRegistry | None = None, *, edge_families: bool = True) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        reg = registry if registry is not None else REGISTRY
        self.logins = Counter(
            "idgate_logins_total",
            "Logins at the provider by connector and result (success, failure, refused).",
            ["connector", "result"],
            registry=reg,
        )
        self.refreshes = Counter(
            "idgate_refreshes_total",
            "Token refreshes by role and result.",
            ["role", "result"],
            registry=reg,
        )
        self.key_rotations = Counter(
            "idgate_key_rotations_total", "Rotations of the provider's signing keys.", registry=reg
        )
        self.refresh_latency = Histogram(
            "idgate_refresh_duration_seconds",
            "The proxy's session refreshes at the provider, by result (success, refused, error).",
            ["result"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        if not edge_families:  # exported by the collectors of idgate.edge.stats and idgate.durations instead
            return
        from idgate.durations import BUCKETS, FAMILIES

        self.durations = {
            f.name: Histogram(f.name, f.documentation, list(f.labelnames), buckets=BUCKETS, registry=reg)
            for f in FAMILIES
        }
        self.requests = Counter(
            "idgate_requests_total",
            "HTTP requests answered on the public listener.",
            ["role", "deployment", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "idgate_request_duration_seconds",
            "Time from the first byte of a request to the end of its response.",
            ["role", "deployment"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.upstream_errors = Counter(
            "idgate_upstream_errors_total",
            "Requests the upstream did not answer properly (502/504 from the edge), by the edge's reason.",
            ["deployment", "reason"],
            registry=reg,
        )
        self.decisions = Counter(
            "idgate_decisions_total",
            "Access decisions of the proxies, one per reason of each decision.",
            ["deployment", "decision", "reason"],
            registry=reg,
        )
        self.log_lines_dropped = Counter(
            "idgate_log_lines_dropped_total",
            "Access lines dropped because stderr did not take them (a pipe nobody reads, a full disk).",
            registry=reg,
        )


class MetricsHandler(logging.Handler):
    """Updates :class:`Metrics` from idgate's log records (see the module docstring for the mapping).

    ``provider_hosts`` are the routing hosts (lower case, no port) of the provider, to tell its
    requests from those to unknown hosts.
    """

    def __init__(self, metrics: Metrics, provider_hosts: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.metrics = metrics
        self.provider_hosts = provider_hosts

    def handle(self, record: logging.LogRecord) -> bool:
        # prometheus-client is thread-safe: no handler lock needed around emit().
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = getattr(record, "event", None)
            if event is not None:
                self._event(str(event), record)
        except Exception:  # a metric must never break a request
            self.handleError(record)

    def _event(self, event: str, record: logging.LogRecord) -> None:
        d = record.__dict__
        if event == "login":
            self.metrics.logins.labels(str(d.get("connector_id") or ""), str(d.get("result") or "")).inc()
        elif event == "refresh":
            role = "provider" if record.name.startswith("idgate.provider") else "proxy"
            result = str(d.get("result") or "")
            self.metrics.refreshes.labels(role, result).inc()
            duration_ms = d.get("duration_ms")
            if role == "proxy" and isinstance(duration_ms, int | float):
                self.metrics.refresh_latency.labels(result).observe(duration_ms / 1000)
        elif event == "key_rotation":
            self.metrics.key_rotations.inc()


# -- multiprocess mode ----------------------------------------------------------------------------------


def prepare_multiprocess(operator_dir: str | None) -> str | None:
    """Before forking workers: a fresh ``PROMETHEUS_MULTIPROC_DIR``, unless the operator set one
    (``operator_dir``, which prometheus-client then uses as it is).

    Must run before :mod:`prometheus_client` is first imported in this process: it chooses its value
    storage at import time, from the environment this sets. Returns the directory this call made (for
    :func:`cleanup_multiprocess`).
    """
    if operator_dir:
        return None
    if "prometheus_client" in sys.modules:
        logging.getLogger("idgate").warning(
            "prometheus_client was imported before the workers were prepared: metrics are per worker"
        )
        return None
    path = tempfile.mkdtemp(prefix="idgate-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def cleanup_multiprocess(path: str | None) -> None:
    """After the workers ended: remove the directory :func:`prepare_multiprocess` made."""
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop(MULTIPROC_ENV, None)


async def flush_edge_stats(metrics: Metrics, interval: float = 1.0) -> None:
    """In a worker of ``--workers N``: add the edge's counts and :mod:`idgate.durations` to the shared
    (multiprocess-mode) ``metrics`` every ``interval``.

    Runs until cancelled, and flushes once more then, so a worker's last requests are not lost.
    """
    import asyncio

    from idgate import durations
    from idgate.edge.stats import STATS

    last: dict[str, Any] | None = None
    last_durations: durations.Snapshot | None = None
    try:
        while True:
            await asyncio.sleep(interval)
            last = STATS.flush_into(metrics, last)
            last_durations = durations.flush_into(metrics.durations, last_durations)
    finally:
        STATS.flush_into(metrics, last)
        durations.flush_into(metrics.durations, last_durations)


def render_metrics(multiprocess: bool = False) -> tuple[bytes, str]:
    """The Prometheus text exposition of this process (or of all workers, in ``multiprocess`` mode)."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if multiprocess:
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# -- installing -----------------------------------------------------------------------------------------

_installed: MetricsHandler | None = None


def install_metrics(settings: Settings, *, multiprocess: bool = False) -> MetricsHandler:
    """Attach the metrics handler to the ``idgate`` logger (once per process) for ``settings``;
    ``multiprocess``: prometheus-client's multiprocess mode is on (``--workers N``).

    Request, latency, upstream-error and decision metrics are counted by the edge itself
    (:mod:`idgate.edge.stats`, plain integers: no log record per request) and exported by its collector;
    with ``--workers N`` each worker adds them to multiprocess-mode metrics (:func:`flush_edge_stats`).
    Session-store and storage durations are plain counters too (:mod:`idgate.durations`, its collector).
    Provider events (logins, refreshes, rotations) and the proxy's refreshes still come from log records.
    """
    global _installed  # noqa: PLW0603 - one handler per process, like the registry it writes to
    from idgate.settings import hostname

    hosts = frozenset({hostname(settings.provider.host)} if settings.provider is not None else ())
    if _installed is None:
        _installed = MetricsHandler(Metrics(edge_families=multiprocess), hosts)
        if not multiprocess:
            from prometheus_client import REGISTRY

            from idgate.durations import DurationsCollector
            from idgate.edge.stats import EdgeStatsCollector

            REGISTRY.register(EdgeStatsCollector())
            REGISTRY.register(DurationsCollector())
        logging.getLogger("idgate").addHandler(_installed)
    else:
        _installed.provider_hosts = hosts
    # Their event records are counted whatever IDGATE_LOG_LEVEL shows (the stderr handler filters).
    for name in ("idgate.provider", "idgate.oidc", "idgate.sessions"):
        logging.getLogger(name).setLevel(logging.INFO)
    return _installed

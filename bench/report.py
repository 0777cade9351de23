"""Aggregation (medians over the A B A B rounds), ratios, and the Markdown of ``bench/RESULTS.md``.

Everything here is pure: numbers in, text out.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bench.wrk import WrkResult


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured run of one configuration."""

    result: WrkResult
    cpu_us: float | None  # CPU µs per request of the measured process tree(s)
    redis_per_request: float | None = None  # commands the session store's Redis processed per request
    log_lines: float | None = None  # lines the row's log file got per request (default-logging rows)
    log_bytes: float | None = None  # and bytes


@dataclass(slots=True)
class Summary:
    """A configuration over its rounds: medians of each figure, errors added up."""

    name: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_us: float | None
    errors: int
    rounds: int
    note: str = ""
    redis_per_request: float | None = None
    log_lines: float | None = None
    log_bytes: float | None = None
    rps_rounds: tuple[float, ...] = ()  # each round's, in order (rounds alternate, so round i pairs up)

    @property
    def per_core(self) -> float | None:
        """Requests per second one core could serve at this CPU cost."""
        return 1_000_000 / self.cpu_us if self.cpu_us else None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(name: str, samples: Sequence[Sample], note: str = "") -> Summary:
    if not samples:
        raise ValueError(f"no samples for {name}")
    return Summary(
        name=name,
        rps=statistics.median(s.result.rps for s in samples),
        p50_ms=_median(s.result.p50_ms for s in samples),
        p99_ms=_median(s.result.p99_ms for s in samples),
        cpu_us=_median(s.cpu_us for s in samples),
        errors=sum(s.result.errors for s in samples),
        rounds=len(samples),
        note=note,
        redis_per_request=_median(s.redis_per_request for s in samples),
        log_lines=_median(s.log_lines for s in samples),
        log_bytes=_median(s.log_bytes for s in samples),
        rps_rounds=tuple(s.result.rps for s in samples),
    )


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return value / reference


def fmt_ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def fmt_num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def fmt_ms(p50: float | None, p99: float | None) -> str:
    if p50 is None or p99 is None:
        return "–"
    return f"{p50:.2f} / {p99:.2f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table (cells with ``|`` are escaped)."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(headers), "|" + "|".join("---" for _ in headers) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


@dataclass(frozen=True, slots=True)
class Target:
    """One line of the targets checklist."""

    what: str
    wanted: str
    measured: str
    met: bool | None  # None: could not be measured

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: "not measured"}[self.met]


def proxy_table(
    summaries: Sequence[Summary],
    nginx: str,
    apache: str,
    variants: Sequence[str] = (),
    refs: tuple[str, str] = ("× nginx proxy", "× Apache+OIDC (server-cache)"),
) -> str:
    """The proxy table; a row named ``... + variant`` (one of ``variants``: a browser's request, default
    logging) is compared with the references of that variant; ``refs``: the headings of the two ratio
    columns."""
    by_name = {s.name: s for s in summaries}
    rows = []
    for s in summaries:
        suffix = next((v for v in variants if s.name.endswith(v)), "")
        ref_nginx = by_name.get(nginx + suffix)
        ref_apache = by_name.get(apache + suffix)
        rows.append(
            [
                s.name,
                fmt_num(s.rps),
                fmt_ratio(ratio(s.rps, ref_nginx.rps if ref_nginx else None)),
                fmt_ratio(ratio(s.rps, ref_apache.rps if ref_apache else None)),
                fmt_ms(s.p50_ms, s.p99_ms),
                fmt_num(s.cpu_us, 1),
                str(s.errors),
                _notes(s),
            ]
        )
    return table(
        [
            "configuration",
            "req/s",
            *refs,
            "p50 / p99 ms",
            "CPU µs/req",
            "errors",
            "notes",
        ],
        rows,
    )


def _notes(s: Summary) -> str:
    redis = None if s.redis_per_request is None else f"Redis commands per request: {s.redis_per_request:.5f}"
    logs = (
        None
        if s.log_lines is None or s.log_bytes is None
        else f"log file: {s.log_lines:.2f} lines, {s.log_bytes:.0f} B per request"
    )
    return "; ".join(n for n in (s.note, redis, logs) if n)


def targets_table(targets: Sequence[Target]) -> str:
    return table(
        ["target", "wanted", "measured", "verdict"],
        [[t.what, t.wanted, t.measured, t.verdict] for t in targets],
    )


def at_least(what: str, value: float | None, wanted: float, unit: str = "×", digits: int = 2) -> Target:
    shown = "–" if value is None else f"{value:,.{digits}f}{unit}"
    return Target(what, f"≥ {wanted:,.{digits}f}{unit}", shown, None if value is None else value >= wanted)


def at_most(what: str, value: float | None, wanted: float, unit: str = "", digits: int = 1) -> Target:
    shown = "–" if value is None else f"{value:,.{digits}f}{unit}"
    return Target(what, f"≤ {wanted:,.{digits}f}{unit}", shown, None if value is None else value <= wanted)


@dataclass
class Report:
    """Sections in order; :meth:`render` joins them."""

    title: str
    sections: list[tuple[str, str]] = field(default_factory=list)

    def add(self, heading: str, body: str) -> None:
        self.sections.append((heading, body))

    def render(self) -> str:
        parts = [f"# {self.title}\n"]
        for heading, body in self.sections:
            parts.append(f"## {heading}\n\n{body.strip()}\n")
        return "\n".join(parts)

"""bench/report.py and bench/profile.py: medians, ratios, targets and the Markdown they become."""

from __future__ import annotations

import pytest
from bench.profile import parse_collapsed, render_profile
from bench.profile import summarise as profile_summary
from bench.report import (
    Report,
    Sample,
    at_least,
    at_most,
    fmt_ms,
    fmt_ratio,
    proxy_table,
    ratio,
    summarise,
    table,
)
from bench.wrk import WrkResult


def sample(rps: float, p50: float, p99: float, cpu: float | None, bad: int = 0) -> Sample:
    return Sample(WrkResult(int(rps * 10), 10.0, rps, {50.0: p50, 99.0: p99}, {}, bad), cpu)


def test_summary_is_the_median_of_rounds_and_adds_errors() -> None:
    s = summarise(
        "x", [sample(100, 1.0, 3.0, 40.0, bad=1), sample(300, 2.0, 5.0, None), sample(200, 3.0, 4.0, 20.0)]
    )
    assert s.rps == 200
    assert (s.p50_ms, s.p99_ms) == (2.0, 4.0)
    assert s.cpu_us == pytest.approx(30.0)  # median of the rounds that have a CPU figure
    assert s.errors == 1 and s.rounds == 3
    assert s.per_core == pytest.approx(1e6 / 30)
    with pytest.raises(ValueError):
        summarise("none", [])


def test_ratio_and_formatting() -> None:
    assert ratio(50, 100) == 0.5
    assert ratio(None, 100) is None and ratio(5, 0) is None and ratio(5, None) is None
    assert fmt_ratio(2.0) == "2.00×" and fmt_ratio(None) == "–"
    assert fmt_ms(0.5, 2.25) == "0.50 / 2.25" and fmt_ms(None, 1.0) == "–"


def test_table_escapes_pipes() -> None:
    out = table(["a", "b"], [["1", "x|y"]])
    assert out.splitlines() == ["| a | b |", "|---|---|", "| 1 | x\\|y |"]


def test_proxy_table_ratios_against_the_references() -> None:
    sums = [
        summarise("nginx", [sample(40_000, 0.7, 2.0, 22.0)]),
        summarise("apache", [sample(10_000, 3.0, 9.0, 150.0)]),
        summarise("idgate", [sample(25_000, 1.2, 3.5, 40.0)]),
    ]
    rows = proxy_table(sums, nginx="nginx", apache="apache").splitlines()
    assert rows[0].startswith("| configuration | req/s | × nginx proxy |")
    assert rows[4] == "| idgate | 25,000 | 0.62× | 2.50× | 1.20 / 3.50 | 40.0 | 0 |  |"
    assert "| nginx | 40,000 | 1.00× | 4.00× |" in rows[2]


def test_a_variants_rows_are_compared_with_the_references_of_that_variant() -> None:
    sums = [
        summarise("nginx", [sample(40_000, 0.7, 2.0, 22.0)]),
        summarise("apache", [sample(10_000, 3.0, 9.0, 150.0)]),
        summarise("nginx, browser", [sample(20_000, 0.7, 2.0, 22.0)]),
        summarise("apache, browser", [sample(5_000, 3.0, 9.0, 150.0)]),
        summarise("idgate, browser", [sample(10_000, 1.2, 3.5, 40.0)]),
        summarise("nginx, logs", [sample(32_000, 0.7, 2.0, 22.0)]),
        summarise("apache, logs", [sample(8_000, 3.0, 9.0, 150.0)]),
        summarise("idgate, logs", [sample(24_000, 1.2, 3.5, 40.0)]),
    ]
    rows = proxy_table(sums, nginx="nginx", apache="apache", variants=(", browser", ", logs")).splitlines()
    assert rows[6].startswith("| idgate, browser | 10,000 | 0.50× | 2.00× |")
    assert rows[9].startswith("| idgate, logs | 24,000 | 0.75× | 3.00× |")


def test_a_default_logging_rows_note_says_what_each_request_wrote() -> None:
    def logged(lines: float, size: float) -> Sample:
        return Sample(sample(10_000, 1.0, 2.0, 50.0).result, 50.0, None, lines, size)

    row = summarise("idgate, logs", [logged(2.0, 230.0), logged(2.002, 231.0), logged(1.0, 120.0)])
    assert (row.log_lines, row.log_bytes) == (2.0, 230.0)  # medians of the rounds
    assert row.rps_rounds == (10_000, 10_000, 10_000)
    line = proxy_table([row], nginx="nginx", apache="apache").splitlines()[2]
    assert line.endswith("| log file: 2.00 lines, 230 B per request |")


def test_redis_commands_per_request_are_the_median_of_rounds_and_shown_in_the_notes() -> None:
    def with_redis(per_request: float | None) -> Sample:
        return Sample(sample(10_000, 1.0, 2.0, 50.0).result, 50.0, per_request)

    redis = summarise("idgate, Redis", [with_redis(1.0), with_redis(None), with_redis(1.02)], "CPU: both")
    assert redis.redis_per_request == pytest.approx(1.01)
    cookie = summarise("idgate", [sample(25_000, 1.2, 3.5, 40.0)])
    assert cookie.redis_per_request is None
    rows = proxy_table([cookie, redis], nginx="nginx", apache="apache").splitlines()
    assert rows[2].endswith("| 0 |  |")
    assert rows[3].endswith("| 0 | CPU: both; Redis commands per request: 1.01000 |")


def test_targets_verdicts() -> None:
    assert at_least("r", 2.5, 2.0).verdict == "met"
    assert at_least("r", 1.5, 2.0).verdict == "**missed**"
    assert at_least("r", None, 2.0).verdict == "not measured"
    t = at_most("cpu", 44.0, 50.0, " µs")
    assert (t.wanted, t.measured, t.met) == ("≤ 50.0 µs", "44.0 µs", True)


def test_report_sections_in_order() -> None:
    r = Report("T")
    r.add("One", "body 1\n")
    r.add("Two", "body 2")
    assert r.render() == "# T\n\n## One\n\nbody 1\n\n## Two\n\nbody 2\n"


def test_profile_summary_own_and_inclusive() -> None:
    raw = (
        "main (x/cli.py:1);Runner.run (r/runners.py:2);open (src/idgate/edge/hotpath.py:10);"
        "seal (src/idgate/sessions/cookie.py:5) 30\n"
        "main (x/cli.py:1);Runner.run (r/runners.py:3) 70\n"
        "not a line\n"
    )
    stacks = parse_collapsed(raw)
    assert len(stacks) == 2
    total, own, incl = profile_summary(stacks)
    assert total == 100
    assert own[0] == ("Runner.run (runners.py)", 70)
    assert ("seal (cookie.py)", 30) in own
    # only idgate's frames, and only below the event loop
    assert dict(incl) == {"open (hotpath.py)": 30, "seal (cookie.py)": 30}
    assert "70.0%" in render_profile(raw)
    assert render_profile("") == "(no samples)"

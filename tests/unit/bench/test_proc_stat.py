"""bench/cpu.py: /proc/PID/stat and status parsed, process trees, CPU µs per request."""

from __future__ import annotations

import pytest
from bench.cpu import ProcStat, descendants, parse_stat, parse_status_kb, tree_ticks, us_per_request


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int, rss: int = 2500) -> str:
    # fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    rest = [
        "S",
        str(ppid),
        "1",
        "1",
        "0",
        "-1",
        "4194560",
        "100",
        "0",
        "0",
        "0",
        str(utime),
        str(stime),
        "7",
        "8",
        "20",
        "0",
        "3",
        "0",
        "12345",
        "123456789",
        str(rss),
    ] + ["0"] * 28
    return f"{pid} ({comm}) " + " ".join(rest) + "\n"


def test_parse_stat_fields() -> None:
    st = parse_stat(stat_line(42, "python", 1, 300, 45, rss=1234))
    assert (st.pid, st.comm, st.state, st.ppid) == (42, "python", "S", 1)
    assert (st.utime, st.stime, st.ticks, st.rss_pages) == (300, 45, 345, 1234)


def test_comm_with_spaces_and_parentheses() -> None:
    st = parse_stat(stat_line(7, "nginx: worker (1) x", 6, 10, 5))
    assert st.comm == "nginx: worker (1) x"
    assert (st.ppid, st.utime, st.stime) == (6, 10, 5)


def test_not_a_stat_line() -> None:
    with pytest.raises(ValueError):
        parse_stat("garbage")


def test_status_rss() -> None:
    text = "Name:\tpython\nVmPeak:\t  200 kB\nVmRSS:\t   51234 kB\nThreads:\t3\n"
    assert parse_status_kb(text) == 51234
    assert parse_status_kb(text, "VmPeak") == 200
    assert parse_status_kb("Name:\tzombie\n") == 0


def tree() -> dict[int, ProcStat]:
    lines = [
        stat_line(1, "init", 0, 1, 1),
        stat_line(10, "master", 1, 5, 5),
        stat_line(11, "w1", 10, 100, 20),
        stat_line(12, "w2", 10, 80, 10),
        stat_line(13, "child", 12, 3, 2),
        stat_line(20, "other", 1, 999, 9),
    ]
    return {s.pid: s for s in map(parse_stat, lines)}


def test_descendants_and_tree_ticks() -> None:
    stats = tree()
    assert descendants(10, stats) == [10, 11, 12, 13]
    assert tree_ticks(10, stats) == 10 + 120 + 90 + 5
    assert descendants(99, stats) == []
    assert tree_ticks(99, stats) == 0


def test_us_per_request() -> None:
    # 250 ticks at 100 Hz = 2.5 s of CPU over 100,000 requests = 25 µs each
    assert us_per_request(250, 100_000, hz=100) == pytest.approx(25.0)
    assert us_per_request(5, 0, hz=100) is None

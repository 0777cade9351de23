"""bench/wrk.py: wrk 4's --latency report parsed into numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.wrk import parse_wrk, wrk_command

REPORT = """Running 10s test @ http://127.0.0.1:8080/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   390.12us  120.50us   9.87ms   91.20%
    Req/Sec    81.23k     2.10k   85.00k    70.00%
  Latency Distribution
     50%  350.00us
     75%  420.00us
     90%  510.00us
     99%    1.20ms
  812345 requests in 10.00s, 1.02GB read
Requests/sec:  81234.50
Transfer/sec:    104.30MB
"""

WITH_ERRORS = """Running 2s test @ http://127.0.0.1:9/
  1 threads and 32 connections
  Latency Distribution
     50%    2.50ms
     75%    3.00ms
     90%    4.00ms
     99%    1.05s
  4000 requests in 2.00s, 1.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 17
Requests/sec:   2000.00
Transfer/sec:    512.00KB
"""


def test_totals_and_percentiles() -> None:
    r = parse_wrk(REPORT)
    assert r.requests == 812345
    assert r.seconds == pytest.approx(10.0)
    assert r.rps == pytest.approx(81234.5)
    assert r.p50_ms == pytest.approx(0.35)
    assert r.p99_ms == pytest.approx(1.2)
    assert r.percentiles_ms[90.0] == pytest.approx(0.51)
    assert r.errors == 0


def test_errors_and_seconds_units() -> None:
    r = parse_wrk(WITH_ERRORS)
    assert r.socket_errors == {"connect": 0, "read": 3, "write": 1, "timeout": 2}
    assert r.bad_status == 17
    assert r.errors == 23
    assert r.p99_ms == pytest.approx(1050.0)


def test_minutes_duration_and_missing_rps_line() -> None:
    r = parse_wrk("  60000 requests in 1.00m, 1.00MB read\n")
    assert r.seconds == pytest.approx(60.0)
    assert r.rps == pytest.approx(1000.0)
    assert r.p50_ms is None


def test_no_totals_is_an_error() -> None:
    with pytest.raises(ValueError, match="requests in"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_command_line() -> None:
    cmd = wrk_command("http://127.0.0.1:1/x", seconds=10, headers=["Host: a", "Cookie: b=c"])
    assert cmd[:6] == ["wrk", "-t1", "-c32", "-d10s", "--timeout=5s", "--latency"]
    assert cmd[6:10] == ["-H", "Host: a", "-H", "Cookie: b=c"]
    assert cmd[-1] == "http://127.0.0.1:1/x"
    scripted = wrk_command("http://h/", seconds=2, script=Path("t.lua"), script_args=["f", "a"])
    assert scripted[-6:] == ["-s", "t.lua", "http://h/", "--", "f", "a"]

"""wrk: the command line the bench runs, and the parser of its ``--latency`` report."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_UNITS_S = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_COUNT_SUFFIX = {"": 1, "k": 1_000, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}

_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),")
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+([\d.]+)(us|ms|s|m|h)\s*$")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)([kKMG]?)\s*$")


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; ``bad_status`` counts responses that were not 2xx/3xx."""

    requests: int
    seconds: float
    rps: float
    percentiles_ms: dict[float, float] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    bad_status: int = 0

    @property
    def p50_ms(self) -> float | None:
        return self.percentiles_ms.get(50.0)

    @property
    def p99_ms(self) -> float | None:
        return self.percentiles_ms.get(99.0)

    @property
    def errors(self) -> int:
        return self.bad_status + sum(self.socket_errors.values())


def _seconds(value: str, unit: str) -> float:
    return float(value) * _UNITS_S[unit]


def parse_wrk(output: str) -> WrkResult:
    """Parse wrk 4's text report (run with ``--latency``). Raises ``ValueError`` when it has no totals."""
    requests: int | None = None
    seconds = 0.0
    rps: float | None = None
    percentiles: dict[float, float] = {}
    socket_errors: dict[str, int] = {}
    bad_status = 0
    in_distribution = False
    for line in output.splitlines():
        if "Latency Distribution" in line:
            in_distribution = True
            continue
        if in_distribution:
            m = _PERCENTILE.match(line)
            if m:
                percentiles[float(m.group(1))] = _seconds(m.group(2), m.group(3)) * 1000
                continue
            in_distribution = False
        if m := _TOTAL.match(line):
            requests, seconds = int(m.group(1)), _seconds(m.group(2), m.group(3))
        elif m := _SOCKET.search(line):
            socket_errors = dict(
                zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True)
            )
        elif m := _NON2XX.search(line):
            bad_status = int(m.group(1))
        elif m := _RPS.match(line):
            rps = float(m.group(1)) * _COUNT_SUFFIX[m.group(2)]
    if requests is None:
        raise ValueError(f"no 'N requests in T' line in wrk output:\n{output}")
    if rps is None:
        rps = requests / seconds if seconds else 0.0
    return WrkResult(requests, seconds, rps, percentiles, socket_errors, bad_status)


def wrk_command(
    url: str,
    *,
    seconds: float,
    threads: int = 1,
    connections: int = 32,
    headers: Sequence[str] = (),
    script: Path | None = None,
    script_args: Sequence[str] = (),
    timeout_s: float = 5.0,
) -> list[str]:
    """``wrk -t1 -c32 -dNs --latency [-H ...] [-s script] url [-- args]``."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "--latency",
    ]
    for header in headers:
        cmd += ["-H", header]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    return cmd


def run_wrk(cmd: Sequence[str], seconds: float) -> WrkResult:
    """Run wrk, bounded in time (its own ``-d`` plus a margin), and parse its report."""
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse_wrk(done.stdout)

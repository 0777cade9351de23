"""CPU and memory accounting from ``/proc``: utime+stime of a process tree, RSS per process.

The parsers are pure (text in, numbers out) so they are unit-tested without a live ``/proc``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` the bench uses (times in clock ticks, RSS in pages)."""

    pid: int
    comm: str
    state: str
    ppid: int
    utime: int
    stime: int
    rss_pages: int

    @property
    def ticks(self) -> int:
        return self.utime + self.stime


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/PID/stat`` line (``comm`` may hold spaces and ``)``: split at the last one)."""
    head, sep, tail = text.rpartition(")")
    if not sep:
        raise ValueError(f"not a /proc/PID/stat line: {text[:80]!r}")
    pid_text, _, comm = head.partition(" (")
    fields = tail.split()
    # fields[0] is field 3 (state); utime is field 14, stime 15, rss 24 (1-based, proc(5))
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        rss_pages=int(fields[21]),
    )


def parse_status_kb(text: str, key: str = "VmRSS") -> int:
    """A ``kB`` value of ``/proc/PID/status`` (``VmRSS``, ``VmHWM`` ...); 0 when absent (a zombie)."""
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    return 0


def descendants(root: int, stats: Mapping[int, ProcStat]) -> list[int]:
    """``root`` and every process below it, parents before children."""
    children: dict[int, list[int]] = {}
    for st in stats.values():
        children.setdefault(st.ppid, []).append(st.pid)
    found: list[int] = []
    todo = [root] if root in stats else []
    while todo:
        pid = todo.pop(0)
        found.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return found


def tree_ticks(root: int, stats: Mapping[int, ProcStat]) -> int:
    """utime+stime of ``root``'s live process tree, in clock ticks."""
    return sum(stats[pid].ticks for pid in descendants(root, stats))


def us_per_request(ticks: int, requests: int, hz: int = CLOCK_TICKS) -> float | None:
    """CPU microseconds per request from a tick delta; ``None`` when nothing was served."""
    if requests <= 0:
        return None
    return ticks * 1_000_000 / hz / requests


# -- live /proc ------------------------------------------------------------------------------------


def read_stats(proc: Path = Path("/proc")) -> dict[int, ProcStat]:
    """Every process's stat (processes that vanish while reading are skipped)."""
    stats: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return stats


def cpu_ticks(roots: Iterable[int]) -> int:
    """utime+stime of the trees under ``roots``, now."""
    stats = read_stats()
    return sum(tree_ticks(root, stats) for root in roots)


def rss_kb(pid: int) -> int:
    try:
        return parse_status_kb(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return 0


def tree_rss_kb(root: int) -> dict[int, int]:
    """RSS (kB) of every process in ``root``'s tree."""
    return {pid: rss_kb(pid) for pid in descendants(root, read_stats())}

"""py-spy's raw (collapsed stacks) output, summarised: where the samples are, by own and by total time."""

from __future__ import annotations

from collections import Counter

from bench.report import table


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """``frame;frame;frame COUNT`` lines -> (frames root first, count)."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py:123)``."""
    name, _, where = frame.partition(" (")
    if not where:
        return frame
    return f"{name} ({where.rsplit('/', 1)[-1]}"


def summarise(
    stacks: list[tuple[list[str], int]], top: int = 25
) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Total samples, the ``top`` frames by own samples, and by inclusive samples (line numbers dropped)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        total += count
        names = [_short(f).split(":")[0] + ")" if ":" in f else _short(f) for f in frames]
        if names:
            own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    trunk = {name for name, c in inclusive.items() if c >= 0.95 * total}  # the process's entry frames
    for name in trunk:
        del inclusive[name]
    return total, own.most_common(top), inclusive.most_common(top)


def render_profile(text: str, top: int = 25) -> str:
    total, own, incl = summarise(parse_collapsed(text), top)
    if not total:
        return "(no samples)"

    def rows(items: list[tuple[str, int]]) -> list[list[str]]:
        return [[f"{c / total:.1%}", f"`{name}`"] for name, c in items]

    return (
        f"{total} samples (idle loop waiting included).\n\nOwn time:\n\n"
        + table(["share", "function"], rows(own))
        + "\n\nIncluding callees (frames on ≥ 95 % of stacks left out):\n\n"
        + table(["share", "function"], rows(incl))
    )

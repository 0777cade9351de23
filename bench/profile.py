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


#: frames that only say "the event loop / a thread is running": a stack's own work starts below them
_DRIVERS = ("Runner.run", "Thread.run", "run_forever", "_run_once", "Handle._run", "run_until_complete")


def _ours(frame: str) -> bool:
    """A frame of idgate's code (py-spy shows paths relative to ``sys.path``: ``(idgate/edge/...)``)."""
    return "(idgate/" in frame or "/idgate/" in frame


def _name(frame: str) -> str:
    short = _short(frame)
    return short.split(":")[0] + ")" if ":" in short else short


def summarise(
    stacks: list[tuple[list[str], int]], top: int = 25
) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Total samples; the ``top`` frames by own samples; and idgate's own functions by inclusive samples,
    counted below the event loop (or thread) that drives them. Line numbers are dropped."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        total += count
        if not frames:
            continue
        own[_name(frames[-1])] += count
        start = 0
        for i, frame in enumerate(frames):
            if frame.split(" (")[0].endswith(_DRIVERS):
                start = i + 1
        for name in {_name(f) for f in frames[start:] if _ours(f)}:
            inclusive[name] += count
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
        + "\n\nidgate's functions, including what they call (below the event loop):\n\n"
        + table(["share", "function"], rows(incl))
    )

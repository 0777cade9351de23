"""``python -m bench``: see ``bench/README.md``."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.run import Options


def _use_idgate_src(argv: list[str]) -> None:
    """``--idgate-src DIR``: run idgate from another source tree (a snapshot, another commit), in the
    servers and in this process (it mints codes through idgate's storage); set before idgate is imported."""
    for i, arg in enumerate(argv):
        value = (
            arg.split("=", 1)[1]
            if arg.startswith("--idgate-src=")
            else (argv[i + 1] if arg == "--idgate-src" and i + 1 < len(argv) else None)
        )
        if value:
            src = str(Path(value).resolve())
            if not (Path(src) / "idgate" / "__init__.py").is_file():  # else the checkout would be measured
                sys.exit(f"bench: --idgate-src {value}: no idgate package there (give the src/ directory)")
            sys.path.insert(0, src)
            os.environ["PYTHONPATH"] = src + os.pathsep + os.environ.get("PYTHONPATH", "")


def parse(argv: list[str]) -> Options:
    from bench.run import Options

    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke-test the harness: 2 s runs, one round")
    ap.add_argument("--soak", action="store_true", help="10 minutes at 80%% of the maximum (bench/SOAK.md)")
    ap.add_argument("--soak-seconds", type=float, help="soak length (default 600)")
    ap.add_argument("--profile", action="store_true", help="py-spy the idgate hot path (bench/PROFILE.md)")
    ap.add_argument("--only", help="comma list of proxy,tls,provider,logins (default: all)")
    ap.add_argument("--rounds", type=int, help="alternations (default 2; --quick 1)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run (default 10; --quick 2)")
    ap.add_argument("--out", type=Path, help="where to write the results")
    ap.add_argument("--idgate-src", type=Path, help="run idgate from this src/ directory instead")
    ap.add_argument("--note", default="", help="a line recorded in the results (e.g. 'machine shared ...')")
    a = ap.parse_args(argv)
    opts = Options.quick_mode() if a.quick else Options()
    changes: dict[str, object] = {"soak": a.soak, "profile": a.profile, "note": a.note}
    if a.soak_seconds:
        changes["soak_seconds"] = a.soak_seconds
    if a.only:
        changes["only"] = frozenset(x.strip() for x in a.only.split(",") if x.strip())
    if a.rounds:
        changes["rounds"] = a.rounds
    if a.seconds:
        changes["seconds"] = a.seconds
    if a.out:
        changes["out"] = a.out
    return dataclasses.replace(opts, **changes)  # type: ignore[arg-type]


if __name__ == "__main__":
    _use_idgate_src(sys.argv[1:])
    from bench.run import main

    try:
        sys.exit(main(parse(sys.argv[1:])))
    except KeyboardInterrupt:
        print("bench: interrupted; every process it started was stopped", file=sys.stderr)
        sys.exit(130)

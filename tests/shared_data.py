"""Where the public test vectors live: ``../shared/testdata`` beside the project root (CI lays a copy of
``shared/`` beside its clone). Missing data is an error, never a skip."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_testdata(name: str) -> Path:
    path = (ROOT / ".." / "shared" / "testdata" / name).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"shared test data missing: {path}")
    return path

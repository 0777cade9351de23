"""What the build compiles: ``setup.py``'s plan (``[tool.idgate.mypyc]`` in pyproject.toml), loaded without
running a build (``setup()`` runs only when setup.py is ``__main__``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SHARED_LIBRARY = "idgate__mypyc"  # setup.py's group_name: the one library the compiled modules share


def _setup() -> ModuleType:
    spec = importlib.util.spec_from_file_location("idgate_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SETUP = _setup()
COMPILED, INTERPRETED = SETUP.plan(ROOT)  # files relative to ROOT; {file: why it stays Python}
COMPILED_MODULES: list[str] = [SETUP.module_name(path) for path in COMPILED]

"""The build compiles the request path with mypyc (``setup.py``, ``[tool.idgate.mypyc]`` in pyproject.toml),
and what runs is what it built.

``make test`` sets ``IDGATE_COMPILED=1``: every module the build compiles must be imported from its
extension module, so a build that fell back to Python (no compiler, ``IDGATE_PURE=1``, an isolated build
env) fails here. Its interpreted run (``make test-interpreted``) sets ``IDGATE_COMPILED=0`` and checks the
opposite. Unset (a plain pytest run), the modules must be all compiled or all interpreted, and a compiled
one never older than its source."""

from __future__ import annotations

import importlib
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

from tests.build_plan import COMPILED, INTERPRETED, ROOT, SETUP, SHARED_LIBRARY


def _is_extension(module: ModuleType) -> bool:
    return str(module.__file__).endswith(tuple(EXTENSION_SUFFIXES))


def _imported() -> dict[str, ModuleType]:
    return {SETUP.module_name(path): importlib.import_module(SETUP.module_name(path)) for path in COMPILED}


def test_the_plan_compiles_the_edge_and_says_why_a_module_is_left_out() -> None:
    edge = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "src/idgate/edge").glob("*.py"))
    assert sorted([*COMPILED, *INTERPRETED]) == edge
    assert "src/idgate/edge/connection.py" in COMPILED
    for path, why in INTERPRETED.items():
        assert (ROOT / path).is_file() and why.strip(), path
    assert SETUP.module_name("src/idgate/edge/__init__.py") == "idgate.edge"
    assert SETUP.module_name("src/idgate/edge/gate.py") == "idgate.edge.gate"


def test_the_hot_modules_run_as_the_build_compiled_them() -> None:
    imported = _imported()
    compiled = sorted(name for name, module in imported.items() if _is_extension(module))
    pure = sorted(name for name, module in imported.items() if not _is_extension(module))
    where = {name: module.__file__ for name, module in imported.items()}
    expected = os.environ.get("IDGATE_COMPILED")
    if expected == "1":
        assert not pure, (
            f"interpreted, not compiled: {pure} ({where[pure[0]]}); the build fell back to Python: "
            "see the 'idgate build:' lines of `make install` (setup.py)"
        )
    elif expected == "0":
        assert not compiled, f"compiled, in the interpreted run: {compiled} ({where[compiled[0]]})"
    else:
        assert not (compiled and pure), f"a partial build: compiled {compiled}, interpreted {pure}"
    for path in INTERPRETED:
        assert not _is_extension(importlib.import_module(SETUP.module_name(path))), path


def test_no_compiled_module_is_older_than_its_source() -> None:
    imported = _imported()
    compiled = {name: module for name, module in imported.items() if _is_extension(module)}
    assert compiled, (
        "nothing compiled was imported: this check is for the compiled build (`make install`); "
        "`make test-interpreted` deselects it"
    )
    newest_source = 0.0
    for name, module in compiled.items():
        extension = Path(str(module.__file__))
        source = extension.parent / (name.rsplit(".", 1)[-1] + ".py")
        if name == "idgate.edge":
            source = extension.parent / "__init__.py"
        assert source.is_file(), f"{name}: no source beside {extension}"
        newest_source = max(newest_source, source.stat().st_mtime)
        assert extension.stat().st_mtime >= source.stat().st_mtime, (
            f"{extension} is older than {source}: a stale build (run `make install`)"
        )
    shared = sys.modules.get(SHARED_LIBRARY)
    assert shared is not None, f"the compiled modules did not load {SHARED_LIBRARY}"
    assert Path(str(shared.__file__)).stat().st_mtime >= newest_source

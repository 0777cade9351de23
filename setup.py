"""idgate's build: setuptools, with the request path compiled by mypyc (README, "Development").

The modules ``[tool.idgate.mypyc]`` in ``pyproject.toml`` names under ``compile`` become C extension
modules built from the same typed source: mypy types them with the project's own configuration
(``[tool.mypy]``, strict), mypyc turns them into C, the platform's compiler builds one shared library
(``idgate__mypyc``) and a small extension per module. ``interpreted`` names the modules matched there
that stay Python, each with its reason. Everything else in ``src/idgate`` is plain Python.

The build is the pure-Python package, and says so and why on stderr, when

- ``IDGATE_PURE=1`` is set (the fallback, on purpose: ``make test`` runs the edge's tests that way too);
- no C compiler or no ``Python.h`` is found;
- the build environment lacks what mypy needs to type the modules: idgate's dependencies and the type
  stubs (pip's isolated build env holds only setuptools and mypy). Build with
  ``pip install --no-build-isolation`` in an environment that has them, as ``make install`` does.

``make`` never takes the fallback silently: ``tests/unit/test_build.py`` fails a ``make test`` whose
build is not compiled. A compile *error* (mypy or C) fails the build; it never falls back.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import re
import shutil
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Any

from setuptools import setup  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
# What mypy needs besides the dependencies to type the compiled modules under [tool.mypy] strict.
STUBS = ("types-PyYAML", "types-ldap3")


def _say(line: str) -> None:
    print(f"idgate build: {line}", file=sys.stderr)


def plan(root: Path = HERE) -> tuple[list[str], dict[str, str]]:
    """(the files to compile, relative to ``root``; {file: why it stays interpreted})."""
    table = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["idgate"]["mypyc"]
    interpreted: dict[str, str] = dict(table.get("interpreted", {}))
    files = sorted({f for pattern in table["compile"] for f in glob.glob(pattern, root_dir=root)})
    return [f for f in files if f not in interpreted], interpreted


def module_name(path: str) -> str:
    """``src/idgate/edge/gate.py`` -> ``idgate.edge.gate``."""
    return path.removeprefix("src/").removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _why_pure() -> str | None:
    if os.environ.get("IDGATE_PURE") == "1":
        return "IDGATE_PURE=1"
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()  # as setuptools
    if not compiler or shutil.which(compiler[0]) is None:
        return f"no C compiler ({' '.join(compiler) or 'CC'} not found)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return f"no Python.h in {sysconfig.get_paths()['include']} (install python3-dev)"
    project = tomllib.loads((HERE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0] for req in project["dependencies"]]
    missing = []
    for name in [*wanted, *STUBS]:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return (
            f"mypy cannot type the compiled modules here: {', '.join(missing)} not installed in the build "
            "environment (pip's isolated build? use `pip install --no-build-isolation` or `make install`)"
        )
    return None


def extensions() -> list[Any]:
    compiled, interpreted = plan()
    for path, reason in interpreted.items():
        _say(f"interpreted {module_name(path)}: {reason}")
    why = _why_pure()
    if why is not None:
        _say(f"pure-Python build, nothing compiled: {why}")
        return []
    from mypyc.build import mypycify  # the build requirement; only a compiled build needs it

    _say(f"compiled with mypyc: {', '.join(module_name(f) for f in compiled)}")
    return mypycify(compiled, opt_level="3", group_name="idgate")


if __name__ == "__main__":  # setuptools runs this file as __main__; tests import plan()
    os.chdir(HERE)
    setup(ext_modules=extensions())

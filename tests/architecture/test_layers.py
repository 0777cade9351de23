"""The house rules of ARCHITECTURE.md ("Layout"), checked over the real tree: no import cycle between
modules, and no core importing the framework, the edge, a web layer, the wiring or the commands.

The checker itself is tested on small trees written here, so that a rule that could never fail is
noticed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.architecture.layers import cycles, import_graph, module_names, violations

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_tree_is_read() -> None:
    names = module_names(SRC)
    assert "idgate.edge.connection" in names and "idgate.config" in names, "src/idgate was not found"
    assert len(names) > 100


def test_no_import_cycle_between_modules() -> None:
    found = cycles(import_graph(SRC))
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_cores_import_no_framework_edge_web_layer_or_wiring() -> None:
    found = violations(import_graph(SRC))
    assert not found, "forbidden imports:\n" + "\n".join(found)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write(
        tmp_path,
        {
            "idgate/__init__.py": "",
            "idgate/policy/__init__.py": "",
            "idgate/policy/a.py": "from idgate.policy import b\n",
            "idgate/policy/b.py": "def f():\n    from . import a\n",  # a late import is still a cycle
            "idgate/policy/c.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from idgate.edge import x\n"
            ),
            "idgate/sessions/__init__.py": "import aiohttp\n",
            "idgate/config/__init__.py": "from idgate.proxy.rules import HEADER\n",
            "idgate/proxy/__init__.py": "",
            "idgate/proxy/rules.py": "HEADER = 'x'\n",
            "idgate/proxy/web.py": "import aiohttp\nfrom idgate.edge import x\n",
            "idgate/edge/__init__.py": "",
            "idgate/edge/x.py": "from idgate.proxy import rules\n",
        },
    )


def test_the_checker_finds_a_cycle_through_a_late_import(tree: Path) -> None:
    assert cycles(import_graph(tree)) == [["idgate.policy.a", "idgate.policy.b"]]


def test_the_checker_finds_forbidden_directions_and_spares_web_layers(tree: Path) -> None:
    assert violations(import_graph(tree)) == [
        "idgate.config imports idgate.proxy.rules: config imports no runtime code",
        "idgate.sessions imports aiohttp: a core imports no framework, edge, web layer or wiring",
    ]

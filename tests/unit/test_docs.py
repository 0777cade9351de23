"""The documentation stays true: the configuration reference is what ``python -m idgate.config.reference``
writes from the models today, it names every key, and every example values file in ``docs/`` loads.

An example is a fenced ``yaml`` block with a top-level ``dex:`` or ``iap:``; a block that elides part of
the file with a ``# ...`` comment is a fragment, not an example, and is not loaded."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from idgate.config import load_config_text
from idgate.config.model import Config
from idgate.config.reference import reference, sections
from idgate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"
YAML_BLOCK = re.compile(r"^( *)```ya?ml\n(.*?)^\1```", re.S | re.M)
# ${VAR} references in the examples, with values that pass validation
EXAMPLE_ENV = {
    "PROMETHEUS_SECRET": "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX",
    "PROMETHEUS_COOKIE_KEY": "6f1b3c9d2e8a4f7b0c5d1e9a3b7c2d8e",
    "GRAFANA_SECRET": "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN",
    "GRAFANA_COOKIE_KEY": "9c2e7a1d5f3b8c0e4a6d2f9b1c7e3a5d",
    "ALERTMANAGER_SECRET": "Am2nB8vC4xZ6lK0jH3gF9dS1aP7oI5uY",
    "ALERTMANAGER_COOKIE_KEY": "0d4a8e2c6b1f9d3a7e5c0b8f2a6d4c1e",
    "GITHUB_CLIENT_ID": "Iv1.0123456789abcdef",
    "GITHUB_CLIENT_SECRET": "0123456789abcdef0123456789abcdef01234567",
    "PGPASSWORD": "s3cr3t-from-vault",
}


def test_the_reference_is_what_the_models_say_today() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == reference(), (
        "docs/configuration.md is stale: run `python -m idgate.config.reference`"
    )


def _all_models() -> set[type[BaseModel]]:
    return {s.model for s in sections()}


def test_every_key_of_every_model_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert Config in _all_models()
    for section in sections():
        if section.same_as is not None:
            continue
        for name, field in section.model.model_fields.items():
            key = field.alias or name
            assert f"| `{key}` |" in text, f"{section.path}.{key} is not in docs/configuration.md"


def test_every_key_has_a_type_and_a_description() -> None:
    missing = [f"{s.path}.{r.key}" for s in sections() for r in s.rows if not r.description or not r.type]
    assert missing == []


def _examples() -> list[tuple[str, int, str]]:
    found = []
    for doc in sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]):
        text = doc.read_text(encoding="utf-8")
        for match in YAML_BLOCK.finditer(text):
            block = textwrap.dedent(match.group(2))
            if re.search(r"^(dex|iap):", block, re.M) and not re.search(r"#\s*\.\.\.", block):
                line = text.count("\n", 0, match.start()) + 1
                found.append((doc.name, line, block))
    return found


def test_the_docs_have_examples() -> None:
    assert len(_examples()) >= 5


@pytest.mark.parametrize(("doc", "line", "block"), _examples(), ids=lambda v: str(v)[:30])
def test_every_example_values_file_loads(doc: str, line: int, block: str) -> None:
    try:
        load_config_text(block, env=EXAMPLE_ENV)
    except ConfigError as exc:
        pytest.fail(f"{doc}:{line}: " + "; ".join(f"{p.path}: {p.message}" for p in exc.problems))


#: reStructuredText a Markdown reader would see as it is: a role (:mod:`x`) or double backquotes.
RST = re.compile(r"``|:(?:mod|func|class|meth|data|attr|exc|obj|ref):`")
FENCE = re.compile(r"^ *```.*?^ *```", re.S | re.M)


@pytest.mark.parametrize(
    "doc", sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]), ids=lambda p: p.name
)
def test_the_docs_are_markdown_without_restructuredtext(doc: Path) -> None:
    text = FENCE.sub("", doc.read_text(encoding="utf-8"))  # code blocks may hold anything
    found = [line for line in text.splitlines() if RST.search(line)]
    assert found == []


def test_docstrings_become_markdown_in_the_reference() -> None:
    from idgate.config.reference import markdown

    assert markdown("read by ``idgate render`` (see :mod:`idgate.deploy`)") == (
        "read by `idgate render` (see `idgate.deploy`)"
    )
    assert markdown("the :class:`~.Model` and :func:`.f`") == "the `Model` and `f`"

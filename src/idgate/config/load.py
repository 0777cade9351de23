"""Reading a values file into a validated :class:`~idgate.config.model.Config`, reporting every problem.

The steps, in order (each collects problems and the next still runs, so one report holds them all):

1. YAML (``safe_load`` semantics). A syntax error stops here, with the line where it starts and what to do
   (:mod:`.yaml_errors`). A key given twice in one mapping is an error (YAML would silently keep the last
   one).
2. ``--set`` overrides on the raw tree (:mod:`.overrides`).
3. ``$VAR`` / ``${VAR}`` expansion in string values (:mod:`.sources`).
4. ``*_file`` secrets (:mod:`.sources`).
5. Chart compatibility (:mod:`.kkp`): Dex's case-insensitive keys, ``staticPasswordLogins``, ordered
   deployments.
6. Validation by the strict models; errors become problems with YAML paths (:mod:`.translate`). An error at
   a path that an earlier step already reported (an unset variable, an unreadable file) is not repeated.
7. Keys required only in some situations (:func:`idgate.config.kkp.required`).

Every problem found here is an error. The cross-section checks (warnings among them) are
:func:`idgate.config.checks.check`, run on the loaded config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from idgate.config import kkp
from idgate.config.model import Config
from idgate.config.overrides import apply_sets
from idgate.config.sources import expand_env, resolve_files
from idgate.config.translate import problems_from
from idgate.config.types import kind_of
from idgate.config.yaml_errors import yaml_problem
from idgate.errors import ConfigError, Problem

__all__ = ["analyse_text", "load_config", "load_config_text"]


def load_config(
    path: str | Path, *, sets: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Config:
    """Load and validate the values file at ``path``; raise :class:`ConfigError` with every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([Problem("", f"cannot read {path}: {reason}")]) from None
    return load_config_text(text, sets=sets, env=env)


def load_config_text(text: str, *, sets: Sequence[str] = (), env: Mapping[str, str] | None = None) -> Config:
    """Like :func:`load_config`, from the YAML text itself."""
    config, problems = analyse_text(text, sets=sets, env=env)
    if config is None or problems:
        raise ConfigError(problems)
    return config


def analyse_text(
    text: str, *, sets: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> tuple[Config | None, list[Problem]]:
    """Steps 1-7 above: the config (``None`` when it could not be validated) and every problem found."""
    env = os.environ if env is None else env
    problems: list[Problem] = []
    tree = _parse_yaml(text, problems)
    if tree is None:
        return None, problems
    apply_sets(tree, tuple(sets), problems)
    tree = expand_env(tree, env, (), problems)
    quiet: set[str] = set()
    tree = resolve_files(tree, (), problems, quiet)
    normalised = kkp.normalise(tree)
    problems += normalised.problems
    quiet |= {p.path for p in problems}
    try:
        config = Config.model_validate(normalised.tree)
    except ValidationError as exc:
        found = problems_from(exc, normalised.written)
        problems += [p for p in found if not _under(p.path, quiet)]
        return None, problems
    config.remember_spellings(normalised.written)
    problems += kkp.required(config)
    return config, problems


def _under(path: str, prefixes: set[str]) -> bool:
    return any(path == p or path.startswith((p + ".", p + "[")) for p in prefixes if p)


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that records keys given twice in one mapping instead of keeping the last."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            ident = (key_node.tag, key_node.value)
            if ident in seen:
                mark = key_node.start_mark
                self.duplicates.append(
                    Problem(
                        "",
                        f"line {mark.line + 1}, column {mark.column + 1}: key "
                        f"'{key_node.value}' is given twice in the same mapping",
                    )
                )
            seen.add(ident)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, problems: list[Problem]) -> dict[str, Any] | None:
    try:  # the reader refuses control characters as soon as it is built
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        problems.append(Problem("", f"invalid YAML: {exc}"))
        return None
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        problems.append(yaml_problem(text, exc))
        return None
    except yaml.YAMLError as exc:
        problems.append(Problem("", f"invalid YAML: {exc}"))
        return None
    finally:
        loader.dispose()
    problems += loader.duplicates
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(
            Problem("", f"expected a mapping with dex:, iap: and idgate: sections, got {kind_of(data)}")
        )
        return None
    return data

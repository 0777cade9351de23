"""Shared fixtures for the config tests: the kkp-values.md §6 example as a dict, and a problem collector."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from idgate.config.load import analyse_text
from idgate.config.model import Config

EXAMPLE_PATH = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"
_EXAMPLE: dict[str, Any] = yaml.safe_load(EXAMPLE_PATH.read_text())

Analyse = Callable[..., tuple[Config | None, list[str]]]


@pytest.fixture
def example() -> dict[str, Any]:
    """A fresh copy of the kkp-values.md §6 example, to modify; with ``iap.replicas: 1``, so that each
    check is seen alone (with the example's 2 replicas on SQLite, ``idgate check`` warns that sign-out
    cannot reach the other replica: ``test_config_check.py::test_the_example_as_written``)."""
    data = copy.deepcopy(_EXAMPLE)
    data["iap"]["replicas"] = 1
    return data


def _analyse(
    data: Mapping[str, Any] | str, sets: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> tuple[Config | None, list[str]]:
    text = data if isinstance(data, str) else yaml.safe_dump(dict(data), sort_keys=False)
    config, problems = analyse_text(text, sets=sets, env=env or {})
    return config, [str(p) for p in problems]


@pytest.fixture
def analyse() -> Analyse:
    """``analyse(data_or_text, sets=(), env=None) -> (config or None, ["path: message", ...])``."""
    return _analyse


@pytest.fixture
def problems() -> Callable[..., list[str]]:
    """``problems(data_or_text, sets=(), env=None) -> ["path: message", ...]`` from loading alone."""
    return lambda data, sets=(), env=None: _analyse(data, sets, env)[1]

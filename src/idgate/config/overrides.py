"""``--set PATH=VALUE`` overrides, applied to the raw YAML tree before anything else.

``PATH`` is dotted map keys with ``[N]`` list indexes: ``iap.deployments.prometheus.upstream_port``,
``dex.clients[0].secret``, ``a.b[0][1].c``. A ``\\.`` is a literal dot inside a key
(``iap.deployments.prometheus.ingress.annotations.ingress\\.kubernetes\\.io/upstream-hash-by``).
``deployments.prometheus`` addresses the map key, as in the file.

``VALUE`` is read as YAML (``9090`` is an integer, ``true`` a boolean, ``[a, b]`` a list); a value that is
not valid YAML is taken as a plain string. Helm's list syntax works too, as ``helm --set`` reads it:
``{a,b}`` is the list ``[a, b]`` (each item read as a YAML scalar, spaces around it dropped, ``\\,`` a
comma inside an item), ``{}`` the empty list. A value in braces with ``key: value`` in it stays a YAML
mapping (``{a: 1}``). Missing maps on the way are created; an index may point at an
existing item or one past the end (which appends). Overrides apply in order; a later one wins.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from idgate.config.model import Loc, format_path
from idgate.config.types import kind_of
from idgate.errors import Problem

__all__ = ["apply_sets", "parse_set_path"]

_MAPPING = re.compile(r":(\s|$)")  # `{a: 1}` is a YAML mapping; `{https://a,https://b}` a Helm list
_SEGMENT = re.compile(r"((?:[^.\[\\]|\\.)*)((?:\[\d+\])*)")


def parse_set_path(path: str) -> Loc | None:
    """``"a.b[0].c"`` -> ``("a", "b", 0, "c")``; ``None`` when the path is malformed."""
    loc: list[str | int] = []
    pos = 0
    while True:
        match = _SEGMENT.match(path, pos)
        assert match is not None  # the pattern matches the empty string
        key, indexes = match.group(1), match.group(2)
        if not key:
            return None
        loc.append(key.replace("\\.", "."))
        loc.extend(int(i) for i in re.findall(r"\[(\d+)\]", indexes))
        pos = match.end()
        if pos == len(path):
            return tuple(loc)
        if path[pos] != ".":
            return None
        pos += 1


def _value(text: str) -> Any:
    if text.startswith("{") and text.endswith("}") and not _MAPPING.search(text[1:-1]):
        return _helm_list(text[1:-1])
    try:
        return yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text


def _helm_list(inner: str) -> list[Any]:
    """``a, b\\,c`` -> ``["a", "b,c"]``: Helm's ``{a,b}`` without its braces."""
    if not inner.strip():
        return []
    items = [item.replace("\\,", ",").strip() for item in re.split(r"(?<!\\),", inner)]
    return [_scalar(item) for item in items]


def _scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def apply_sets(tree: dict[str, Any], sets: list[str] | tuple[str, ...], problems: list[Problem]) -> None:
    """Apply each ``PATH=VALUE`` of ``sets`` to ``tree`` in place, reporting bad overrides."""
    for item in sets:
        path, sep, text = item.partition("=")
        loc = parse_set_path(path) if sep else None
        if loc is None:
            problems.append(Problem(path, f"--set {item!r}: expected PATH=VALUE such as a.b[0].c=value"))
            continue
        error = _assign(tree, loc, _value(text))
        if error:
            problems.append(Problem(format_path(loc), f"--set: {error}"))


def _assign(tree: dict[str, Any], loc: Loc, value: Any) -> str | None:
    node: Any = tree
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        here = format_path(loc[:depth]) or "the root"
        if isinstance(part, int):
            if not isinstance(node, list):
                return f"{here} is {kind_of(node)}, not a list"
            if part > len(node):
                return f"index {part} is past the end of {here} ({len(node)} items)"
            if part == len(node):
                node.append(None)
        elif not isinstance(node, dict):
            return f"{here} is {kind_of(node)}, not a mapping"
        if last:
            node[part] = value
            return None
        child = node[part] if isinstance(part, int) or part in node else None
        if child is None:
            child = [] if isinstance(loc[depth + 1], int) else {}
            node[part] = child
        node = child
    return None

"""Records to JSON text and back, for backends that keep a record as one document.

Only the shapes records use are supported: ``str``, ``int``, ``float``, ``bool``, ``None``, nested
frozen dataclasses, ``X | None`` and ``tuple[X, ...]``. The field names are the wire format; renaming a
field needs a migration.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def encode(record: object) -> str:
    """A record as compact JSON text."""
    return json.dumps(_plain(record), separators=(",", ":"), sort_keys=True)


def decode(kind: type[T], text: str) -> T:
    """The record of ``kind`` stored as ``text`` by :func:`encode`."""
    value: T = _build(kind, json.loads(text))
    return value


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@cache
def _hints(kind: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _build(tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _build(inner, value)
    if origin is tuple:
        (inner, _) = typing.get_args(tp)
        return tuple(_build(inner, v) for v in value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        names = {f.name for f in dataclasses.fields(tp) if f.init}
        return tp(**{k: _build(hints[k], v) for k, v in value.items() if k in names})
    if tp is float and isinstance(value, int):
        return float(value)
    return value

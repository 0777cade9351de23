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
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def encode(record: object) -> str:
    """A record as compact JSON text."""
    return json.dumps(_plain(record), separators=(",", ":"), sort_keys=True)


def decode(kind: type[T], text: str) -> T:
    """The record of ``kind`` stored as ``text`` by :func:`encode`."""
    value: T = _builder(typing.cast(Any, kind))(json.loads(text))
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})
#: type -> its dataclass field names (``None``: not a dataclass instance), filled on first sight.
_FIELD_NAMES: dict[type[Any], tuple[str, ...] | None] = {}


def _field_names(value: Any) -> tuple[str, ...] | None:
    kind = type(value)
    try:
        return _FIELD_NAMES[kind]
    except KeyError:
        pass
    names: tuple[str, ...] | None = None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = tuple(f.name for f in dataclasses.fields(value))
    _FIELD_NAMES[kind] = names
    return names


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    names = _field_names(value)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@cache
def _hints(kind: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _same(value: Any) -> Any:
    return value


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) else value


@cache
def _builder(tp: Any) -> Callable[[Any], Any]:
    """:func:`_build` for ``tp``, worked out once per type (the same results, without re-reading the
    type hints and fields of every record)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        build_inner = _builder(inner)
        if build_inner is _same:
            return _same
        return lambda value: None if value is None else build_inner(value)
    if origin is tuple:
        (inner, _) = typing.get_args(tp)
        build_item = _builder(inner)
        if build_item is _same:
            return tuple
        return lambda value: tuple(build_item(v) for v in value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        names = frozenset(f.name for f in dataclasses.fields(tp) if f.init)
        converting = tuple(
            (name, build) for name in sorted(names) if (build := _builder(hints[name])) is not _same
        )
        kind: Any = tp

        def build_record(value: Any) -> Any:
            args = {k: v for k, v in value.items() if k in names}
            for name, build in converting:
                if name in args:
                    args[name] = build(args[name])
            return kind(**args)

        return build_record
    if tp is float:
        return _to_float
    return _same


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

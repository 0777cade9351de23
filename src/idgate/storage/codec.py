"""Records to JSON text and back, for backends that keep a record as one document.

Only the shapes records use are supported: ``str``, ``int``, ``float``, ``bool``, ``None``, nested
frozen dataclasses, ``X | None`` and ``tuple[X, ...]``. The field names are the wire format; renaming a
field needs a migration.

The text is compact JSON with keys sorted, the stdlib's rendering of the record's fields (non-ASCII
characters are written as UTF-8 rather than ``\\u`` escapes). ``msgspec`` writes and reads it, straight
from and into the dataclasses (~5 µs a record, against ~25 to write and ~40 to read through ``json`` and
the field-by-field conversion below). That conversion stays as the lenient reader: a text ``msgspec``
refuses -- a value of another type than the field's, as an older idgate may have written -- is read as
before, and a string JSON cannot carry as UTF-8 (a lone surrogate) is written by the stdlib, escaped.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

#: Keys sorted, as ``json.dumps(..., sort_keys=True)``: the text stays the one earlier releases wrote.
_WRITER = msgspec.json.Encoder(order="sorted")


def encode(record: object) -> str:
    """A record as compact JSON text (keys sorted)."""
    try:
        return _WRITER.encode(record).decode()
    except UnicodeEncodeError:  # a lone surrogate: the stdlib escapes it
        return _ENCODER.encode(_flattener(typing.cast(Any, type(record)))(record))


def decode(kind: type[T], text: str) -> T:
    """The record of ``kind`` stored as ``text`` by :func:`encode` (or by an earlier release).

    The last record decoded of each kind is kept with its text: an update reads back the text that the
    check before it has just decoded (a code exchange, a refresh), and records are immutable."""
    last = _LAST.get(kind)
    if last is not None and last[0] == text:
        value: T = last[1]
        return value
    try:
        value = _reader(typing.cast(Any, kind)).decode(text)
    except msgspec.MsgspecError:  # not what the fields say: read as earlier releases did
        value = _builder(typing.cast(Any, kind))(json.loads(text))
    _LAST[kind] = (text, value)
    return value


def stored_text(record: object) -> str:
    """The text ``record`` is stored as, for a compare-and-swap on it: the text it was decoded from when
    it is the last record of its kind decoded (what an update of a record just read finds), else its
    encoding."""
    last = _LAST.get(type(record))
    if last is not None and last[1] is record:
        return last[0]
    return encode(record)


@cache
def _reader(kind: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(kind)


_LAST: dict[Any, tuple[str, Any]] = {}


#: The stdlib's writer, for what ``msgspec`` cannot write (``json.dumps`` with options builds one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


@cache
def _flattener(tp: Any) -> Callable[[Any], Any]:
    """What JSON encodes for a value of type ``tp``: nested dataclasses become dicts (scalars, tuples of
    scalars and ``None`` are encoded as they are), worked out once per type from its type hints, like
    :func:`_builder` reads them back."""
    inner, item = _optional_of(tp), _items_of(tp)
    if inner is not None:
        return _nullable(_flattener(inner))
    if item is not None:
        flatten_item = _flattener(item)
        if flatten_item is _same:
            return _same  # JSON writes a tuple as an array
        return lambda value: [flatten_item(v) for v in value]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        names = tuple(f.name for f in dataclasses.fields(tp))
        converting = tuple((name, f) for name in names if (f := _flattener(hints[name])) is not _same)

        def flatten_record(record: Any) -> dict[str, Any]:
            plain = {name: getattr(record, name) for name in names}
            for name, flatten in converting:
                plain[name] = flatten(plain[name])
            return plain

        return flatten_record
    return _same


def _optional_of(tp: Any) -> Any:
    """``X`` for ``X | None``, else ``None``."""
    if typing.get_origin(tp) not in (typing.Union, types.UnionType):
        return None
    (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
    return inner


def _items_of(tp: Any) -> Any:
    """``X`` for ``tuple[X, ...]``, else ``None``."""
    return typing.get_args(tp)[0] if typing.get_origin(tp) is tuple else None


def _nullable(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` for a value that may be ``None``."""
    if convert is _same:
        return _same
    return lambda value: None if value is None else convert(value)


@cache
def _hints(kind: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _same(value: Any) -> Any:
    return value


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) else value


@cache
def _builder(tp: Any) -> Callable[[Any], Any]:
    """How a value of type ``tp`` is read back from what JSON decoded, worked out once per type."""
    inner, item = _optional_of(tp), _items_of(tp)
    if inner is not None:
        return _nullable(_builder(inner))
    if item is not None:
        build_item = _builder(item)
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

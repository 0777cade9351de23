"""Pydantic's validation errors, translated into :class:`~idgate.errors.Problem`s with YAML paths.

Each error's ``loc`` becomes a dotted path (:func:`idgate.config.model.format_path`), spelled as the file
spells it. Messages say what was expected and what kind of value was found, never the value itself (it
may be a secret); the value types' own messages (durations, regexes, key lengths) are kept as written.
An unknown key is explained by the model that owns the mapping (:meth:`Strict.unknown_key_message`), which
is how ``config:`` blocks say "not supported yet by idgate" while other sections say "did you mean".
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from idgate.config.model import Config, Loc, format_path, written_loc
from idgate.config.types import Strict, kind_of
from idgate.errors import Problem

__all__ = ["model_at", "problems_from"]

_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "float_type": "a number",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


#: What a missing key takes, where a bare "required key is missing" leaves the operator guessing.
_MISSING_HINTS = {
    "encryption_key": ": 16, 24 or 32 characters (`idgate secret` makes one of 32)",
}


def problems_from(
    error: ValidationError,
    written: Mapping[Loc, Loc],
    *,
    root: type[BaseModel] = Config,
    prefix: Loc = (),
) -> list[Problem]:
    """One problem per pydantic error, in pydantic's order.

    ``root`` is the model that was validated and ``prefix`` where its mapping sits in the file (a
    connector's ``config`` block is validated on its own, at ``("dex", "connectors", i, "config")``).
    """
    return [_problem(detail, written, root, prefix) for detail in error.errors(include_url=False)]


def _problem(detail: ErrorDetails, written: Mapping[Loc, Loc], root: type[BaseModel], prefix: Loc) -> Problem:
    loc: Loc = tuple(detail["loc"])
    if loc and loc[-1] == "[key]":  # a mapping's key was refused (a dex.theme file name): name the key
        loc = loc[:-1]
    path = format_path(written_loc((*prefix, *loc), written))
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        owner = model_at(root, loc[:-1])
        key = str(loc[-1])
        message = owner.unknown_key_message(key) if owner else f"unknown key '{key}'"
    elif kind == "missing":
        message = "required key is missing" + _MISSING_HINTS.get(str(loc[-1]) if loc else "", "")
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {kind_of(detail['input'])}"
    elif kind == "literal_error":
        message = f"expected {ctx.get('expected')}, got {_short(detail['input'])}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}
        bound = next(iter(ctx.values()), "?")
        message = f"must be {op[kind]} {bound}"
    elif kind == "value_error":
        message = detail["msg"].removeprefix("Value error, ")
    else:
        message = detail["msg"]
    return Problem(path, message)


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 40:
        return repr(value)
    return kind_of(value)


def model_at(root: type[BaseModel], loc: Loc) -> type[Strict] | None:
    """The model class that validates the mapping at ``loc``, walking field annotations from ``root``."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for name, f in tp.model_fields.items() if (f.alias or name) == part), None)
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, Strict) else None


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the type that holds structure."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp

"""Typed connector configs: the base model and the validation of a ``dex.connectors[i].config`` block.

Each connector module defines its ``config`` model with Dex's exact key spellings, deriving from
:class:`ConnectorConfig` (strict, unknown keys refused with a "did you mean"). Dex reads a connector's
``config`` through Go's ``encoding/json``, which matches keys ignoring case, so :func:`fold_keys` first
renames every key that equals a known one up to case (``clientId`` -> ``clientID``), recursively, and
remembers how it was written so that error paths show the file's spelling.

``$VAR`` and ``*_file`` secrets were resolved by the loader before a block gets here; validation opens no
files and no sockets (a ``rootCA`` path is checked when the connector is built, not here).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin

from pydantic import ValidationError

from idgate.config.translate import problems_from
from idgate.config.types import Strict, did_you_mean
from idgate.errors import ConfigError, Loc, Problem, format_path

__all__ = ["ConnectorConfig", "NoKeys", "config_problem", "fold_keys", "parse_config", "validate_config"]

C = TypeVar("C", bound="ConnectorConfig")


class ConnectorConfig(Strict):
    """Base of every connector's ``config`` model. ``legacy_keys`` are accepted but never suggested in a
    "did you mean" (``orgz`` should point at ``orgs``, not at GitHub's legacy ``org``)."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def unknown_key_message(cls, key: str) -> str:
        known = [k for k in cls.known_keys() if k not in cls.legacy_keys]
        hint = did_you_mean(key, known) or f" (expected one of: {', '.join(known)})"
        return f"unknown key '{key}'{hint}"


class NoKeys(ConnectorConfig):
    """The ``config`` of a connector type that takes no keys (``local``: its users are ``staticPasswords``
    and ``idgate user add``)."""


def config_problem(at: Loc, message: str) -> ConfigError:
    """A :class:`ConfigError` about the key at ``at`` (a file it names cannot be used ...)."""
    return ConfigError([Problem(format_path(at), message)])


def _model_of(annotation: Any) -> type[Strict] | None:
    """The :class:`Strict` model inside ``X``, ``X | None``, ``list[X]`` or ``Annotated[X, ...]``."""
    tp = annotation
    for _ in range(5):
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return None
            tp = args[0]
        elif origin in (list, tuple):
            tp = get_args(tp)[0]
        else:
            break
    return tp if isinstance(tp, type) and issubclass(tp, Strict) else None


def fold_keys(raw: Any, model: type[Strict], loc: Loc, written: dict[Loc, Loc]) -> Any:
    """``raw`` with keys renamed to ``model``'s spelling where they match up to case (a new tree).

    A key given twice in two spellings keeps the exact spelling; the model then reports the other one as
    unknown. ``written`` receives ``normalised location -> location as written`` for each rename.
    """
    if not isinstance(raw, Mapping):
        return raw
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    known = {k.lower(): k for k in fields}
    out: dict[Any, Any] = {}
    for key, value in raw.items():
        name = known.get(key.lower(), key) if isinstance(key, str) else key
        if name in out or (name != key and name in raw):
            name = key
        if name != key:
            written[(*loc, name)] = (*loc, key)
        inner = _model_of(fields[name].annotation) if name in fields else None
        if inner is not None and isinstance(value, list):
            out[name] = [fold_keys(v, inner, (*loc, name, i), written) for i, v in enumerate(value)]
        elif inner is not None:
            out[name] = fold_keys(value, inner, (*loc, name), written)
        else:
            out[name] = value
    return out


def validate_config(model: type[C], raw: Any, prefix: Loc = ()) -> tuple[C | None, list[Problem]]:
    """Validate one ``config`` block at YAML location ``prefix``: the model, or ``None`` and the problems."""
    written: dict[Loc, Loc] = {}
    folded = fold_keys(raw if raw is not None else {}, model, prefix, written)
    try:
        return model.model_validate(folded), []
    except ValidationError as exc:
        return None, problems_from(exc, written, root=model, prefix=prefix)


def parse_config(model: type[C], raw: Any, prefix: Loc = ()) -> C:
    """Like :func:`validate_config`, raising :class:`ConfigError` with every problem."""
    parsed, problems = validate_config(model, raw, prefix)
    if parsed is None:
        raise ConfigError(problems)
    return parsed

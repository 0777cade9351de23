"""Where values come from besides the file itself: ``$VAR`` expansion and ``*_file`` secrets.

**Environment variables** (:func:`expand_env`), in every string *value* (never in keys):

- ``${NAME}`` anywhere in a value is replaced by the variable's value;
- a bare ``$NAME`` is replaced only when it is the **whole** value (``secret: $CLIENT_SECRET``);
- ``$$`` is a literal ``$``; ``${`` not followed by ``NAME}`` is an error;
- every other ``$`` is left as it is.

``NAME`` is ``[A-Za-z_][A-Za-z0-9_]*``. The bare form is restricted to whole values so that bcrypt hashes
(``$2a$10$zMJhg/3axbm...``), which contain ``$`` followed by letters, pass through untouched. An unset
variable is an error naming the YAML path and the variable. Expanded values are always strings.

**Secret files** (:func:`resolve_files`): next to a secret key (``secret``, ``client_secret``,
``encryption_key``, ``clientSecret``, ``bindPW``, ``hash``) a sibling ``<key>_file`` (or ``<key>File`` for the
camelCase Dex keys, e.g. ``clientSecretFile``) names a file whose content is the value, with trailing
newlines stripped. File contents are not expanded. Paths are relative to the working directory. Giving
both the key and its file is an error, as is a file that cannot be read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from idgate.config.model import Loc, format_path
from idgate.config.types import kind_of
from idgate.errors import Problem

__all__ = ["SECRET_KEYS", "expand_env", "resolve_files"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WHOLE = re.compile(rf"\$({_NAME})")
_TOKEN = re.compile(rf"\$(\$|\{{({_NAME})\}}|\{{)")

SECRET_KEYS = ("secret", "client_secret", "encryption_key", "clientSecret", "bindPW", "hash")


def _file_keys(key: str) -> tuple[str, ...]:
    return (f"{key}_file",) if "_" in key else (f"{key}_file", f"{key}File")


def expand_env(node: Any, env: Mapping[str, str], loc: Loc, problems: list[Problem]) -> Any:
    """A copy of ``node`` with variables expanded in every string value (rules in the module docstring)."""
    if isinstance(node, dict):
        return {k: expand_env(v, env, (*loc, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, env, (*loc, i), problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        return _expand(node, env, loc, problems)
    return node


def _expand(text: str, env: Mapping[str, str], loc: Loc, problems: list[Problem]) -> str:
    whole = _WHOLE.fullmatch(text)
    if whole:
        return _lookup(whole.group(1), text, env, loc, problems)
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(text[pos : match.start()])
        pos = match.end()
        if match.group(1) == "$":
            out.append("$")
        elif match.group(2):
            out.append(_lookup(match.group(2), match.group(0), env, loc, problems))
        else:
            problems.append(
                Problem(format_path(loc), "'${' must be followed by NAME} (write $$ for a literal $)")
            )
            return text
    out.append(text[pos:])
    return "".join(out)


def _lookup(name: str, raw: str, env: Mapping[str, str], loc: Loc, problems: list[Problem]) -> str:
    if name in env:
        return env[name]
    problems.append(Problem(format_path(loc), f"environment variable {name} is not set"))
    return raw


def resolve_files(node: Any, loc: Loc, problems: list[Problem], quiet: set[str]) -> Any:
    """A copy of ``node`` where each ``<secret>_file`` is replaced by ``<secret>`` holding the file's text.

    When a file cannot be read, the secret's own path is added to ``quiet``: the validator's "required
    key is missing" there would only repeat the problem.
    """
    if isinstance(node, list):
        return [resolve_files(v, (*loc, i), problems, quiet) for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {k: resolve_files(v, (*loc, k), problems, quiet) for k, v in node.items()}
    for key in SECRET_KEYS:
        for file_key in _file_keys(key):
            if file_key not in out:
                continue
            path = out.pop(file_key)
            if key in node:
                problems.append(
                    Problem(format_path((*loc, key)), f"give either {key} or {file_key}, not both")
                )
                continue
            value = _read_secret(path, (*loc, file_key), problems)
            if value is None:
                quiet.add(format_path((*loc, key)))
            else:
                out[key] = value
    return out


def _read_secret(path: Any, loc: Loc, problems: list[Problem]) -> str | None:
    if not isinstance(path, str) or not path:
        problems.append(Problem(format_path(loc), f"expected a file path, got {kind_of(path)}"))
        return None
    try:
        return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(Problem(format_path(loc), f"cannot read {path}: {reason}"))
        return None

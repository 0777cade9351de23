"""The idgate error tree.

::

    IdgateError                       anything idgate raises on purpose
    ├── ConfigError                   the values file is wrong; carries every Problem at once (exit 2)
    ├── StorageError                  the storage backend failed or is unreachable
    │   ├── NotFound                  no record with that id
    │   ├── AlreadyExists             a record with that id exists
    │   └── Conflict                  a concurrent update won; the caller may retry
    └── UpstreamError                 an HTTP peer (provider, connector, upstream) failed or answered badly

OAuth protocol errors live in :mod:`idgate.oauth2.errors`; they carry their RFC 6749 error code and HTTP
status and are rendered in one place per role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


class IdgateError(Exception):
    """Base of every error idgate raises on purpose."""


#: A place in the values file: map keys and list indexes, ``("dex", "clients", 2, "secret")``.
Loc = tuple[str | int, ...]
_INDEX_KEY = re.compile(r"\[\d+\]")


def format_path(loc: Loc) -> str:
    """``("dex", "clients", 2, "secret")`` -> ``dex.clients[2].secret``, as a :class:`Problem` names it."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _INDEX_KEY.fullmatch(part):
            out += part
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about the config: where it is (a dotted YAML path) and what was expected."""

    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.path or "<root>"
        return f"{where}: {self.message}"


class ConfigError(IdgateError):
    """The config cannot be used. ``problems`` holds every error found, each with its YAML path."""

    exit_code = 2

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StorageError(IdgateError):
    """The storage backend failed."""


class NotFound(StorageError):
    """No record with that id."""


class AlreadyExists(StorageError):
    """A record with that id already exists."""


class Conflict(StorageError):
    """A concurrent transaction changed the record first."""


class UpstreamError(IdgateError):
    """An HTTP peer failed or answered something idgate cannot use."""

"""``idgate serve --config``: the settings, read in a child process.

Reading a values file takes pydantic and the config models: ~12 MB that a Python process keeps for its
whole life once loaded. A server needs only what they produce, :class:`~idgate.settings.Settings` (plain
dataclasses). So :func:`read_apart` runs ``python -m idgate.config.apart`` -- :func:`read` on the file and
the ``--set`` overrides -- and receives the outcome pickled on the child's stdout: the settings, the
workers wanted and the warnings, or every problem of a file that cannot be served. The child is this
same program, so nothing untrusted is unpickled. ``idgate check`` and the admin commands read in-process.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from idgate.errors import ConfigError, Problem
from idgate.settings import Settings


@dataclass(frozen=True, slots=True)
class Read:
    """A values file that can be served: its settings, ``idgate.workers``, and its warnings."""

    settings: Settings
    workers: int
    warnings: tuple[Problem, ...]


def read(config_file: str, sets: Sequence[str]) -> Read:
    """Load, check and build; :class:`ConfigError` with every problem when any is an error."""
    from idgate.config import build_settings, check, load_config

    config = load_config(config_file, sets=sets)
    problems = check(config, "serve")
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    return Read(build_settings(config), config.idgate.workers, tuple(problems))


def read_apart(config_file: str, sets: Sequence[str]) -> Read:
    """:func:`read` in a child process, so that this one never loads the config models."""
    child = subprocess.run(  # noqa: S603 - this program, with the operator's own arguments
        [sys.executable, "-m", "idgate.config.apart", config_file, *sets],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if child.returncode != 0:  # the child crashed: its last words, as a problem of the whole file
        said = child.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else f"exit code {child.returncode}"
        raise ConfigError([Problem("", f"reading {config_file} failed: {why}")])
    outcome = pickle.loads(child.stdout)  # noqa: S301 - written by this program's own child, above
    if isinstance(outcome, Read):
        return outcome
    raise ConfigError(list(outcome))


def _main(argv: Sequence[str]) -> None:
    config_file, *sets = argv
    out, sys.stdout = sys.stdout.buffer, sys.stderr  # stdout carries the outcome and nothing else
    outcome: Read | tuple[Problem, ...]
    try:
        outcome = read(config_file, sets)
    except ConfigError as exc:
        outcome = tuple(exc.problems)
    out.write(pickle.dumps(outcome))
    out.flush()


if __name__ == "__main__":  # run as the module itself, so that what is pickled names idgate.config.apart
    from idgate.config import apart  # noqa: PLW0406 - not __main__'s copy of the module

    apart._main(sys.argv[1:])

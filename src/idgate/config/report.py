"""How ``idgate check`` (and ``serve`` on a bad file) shows problems, and what exit status they mean.

One line per problem, ``error: <path>: <message>`` or ``warning: ...``, errors first in the order they
were found, then a summary line. Exit status: 0 clean, 1 warnings only, 2 any error.
"""

from __future__ import annotations

from collections.abc import Sequence

from idgate.errors import Problem

__all__ = ["exit_code", "format_problem", "format_report", "summary"]


def format_problem(problem: Problem) -> str:
    """``error: iap.deployments.prometheus.encryption_key: must be 16, 24 or 32 characters, got 12``."""
    return f"{problem.severity}: {problem}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def summary(problems: Sequence[Problem]) -> str:
    """``2 errors, 1 warning`` or ``no problems found``."""
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if not problems:
        return "no problems found"
    return f"{_count(errors, 'error')}, {_count(warnings, 'warning')}"


def format_report(problems: Sequence[Problem]) -> str:
    """Every problem on its own line (errors first), then the summary."""
    ordered = sorted(problems, key=lambda p: p.severity != "error")
    return "\n".join([*(format_problem(p) for p in ordered), summary(problems)])


def exit_code(problems: Sequence[Problem]) -> int:
    """0 when clean, 1 when there are warnings only, 2 when there is an error."""
    if any(p.severity == "error" for p in problems):
        return 2
    return 1 if problems else 0

"""``idgate check FILE [--set PATH=VALUE]...``: every problem of a values file, one per line; exit 0/1/2."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from idgate.cli.options import set_option
from idgate.config.report import exit_code, format_report
from idgate.errors import ConfigError, Problem

__all__ = ["check"]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@set_option
def check(file: str, sets: Sequence[str]) -> None:
    """Check a values file: every problem with its YAML path, and the cross-section checks."""
    from idgate.config import check as cross_check
    from idgate.config import load_config

    problems: list[Problem]
    try:
        problems = cross_check(load_config(file, sets=sets))
    except ConfigError as exc:
        problems = exc.problems
    click.echo(format_report(problems))
    sys.exit(exit_code(problems))

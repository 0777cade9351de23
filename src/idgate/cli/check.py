"""``idgate check [FILE | --config FILE] [--set PATH=VALUE]...``: every problem of a values file, one per
line; exit 0/1/2. The file may be named like every other command's (``--config``, ``IDGATE_CONFIG``) or as
the argument."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from click.core import ParameterSource

from idgate.cli.options import config_option, set_option
from idgate.config.report import exit_code, format_report
from idgate.errors import ConfigError, Problem

__all__ = ["check"]


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@config_option("The values file (or give it as FILE).")
@set_option
@click.pass_context
def check(ctx: click.Context, file: str | None, config_file: str | None, sets: Sequence[str]) -> None:
    """Check a values file: every problem with its YAML path, and the cross-section checks."""
    from idgate.config import check as cross_check
    from idgate.config import load_config

    typed = ctx.get_parameter_source("config_file") is not ParameterSource.ENVIRONMENT
    if file and config_file and typed and file != config_file:
        raise click.UsageError(f"two values files: {file} and --config {config_file}; give one")
    path = file or config_file
    if not path:
        raise click.UsageError("give the values file: idgate check FILE, --config FILE or IDGATE_CONFIG")
    problems: list[Problem]
    try:
        problems = cross_check(load_config(path, sets=sets))
    except ConfigError as exc:
        problems = exc.problems
    click.echo(format_report(problems))
    sys.exit(exit_code(problems))

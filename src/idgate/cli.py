"""The ``idgate`` command. Thin: parse options, call the config package or the app, map results to exits.

::

    idgate check FILE [--set PATH=VALUE]...       every problem, one per line; exit 0/1/2
    idgate serve [--config FILE] [--set ...]      run what the file describes (without --config: the demo)
          [--workers N] [--data-dir DIR] [--listen HOST:PORT]
    idgate secret                                  a fresh 32-character [A-Za-z0-9] secret
    idgate version
"""

from __future__ import annotations

import json
import secrets
import string
import sys
from collections.abc import Sequence

import click

from idgate import __version__
from idgate.config.report import exit_code, format_report
from idgate.errors import ConfigError, Problem

__all__ = ["main", "new_secret"]

SECRET_ALPHABET = string.ascii_letters + string.digits


def new_secret(length: int = 32) -> str:
    """What the KKP docs make with ``tr -dc A-Za-z0-9 </dev/urandom | head -c32``, from :mod:`secrets`."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))


_set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a value before validation, e.g. iap.deployments.prometheus.upstream_port=9091.",
)


@click.group()
@click.version_option(__version__, prog_name="idgate")
def main() -> None:
    """idgate: single sign-on for internal web services (an OIDC provider and an identity-aware proxy)."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_set_option
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


@main.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="The values file.")
@_set_option
@click.option("--workers", type=click.IntRange(min=1), help="Processes sharing the port.")
@click.option("--data-dir", help="Where local state lives (overrides idgate.data_dir).")
@click.option("--listen", help="HOST:PORT to listen on (overrides idgate.listen).")
def serve(
    config_file: str | None,
    sets: Sequence[str],
    workers: int | None,
    data_dir: str | None,
    listen: str | None,
) -> None:
    """Run the provider and proxies the file describes; without --config, the embedded demo."""
    from idgate.app import serve as run

    if config_file is None:
        if sets:
            raise click.UsageError("--set needs --config")
        from idgate.demo import demo_settings

        settings = demo_settings(data_dir or "./data", listen or "127.0.0.1:4180")
        run(settings, workers=workers or 1)
        return

    from idgate.config import build_settings, load_config
    from idgate.config import check as cross_check

    overrides = [*sets]
    overrides += [f"idgate.data_dir={json.dumps(data_dir)}"] if data_dir else []
    overrides += [f"idgate.listen={json.dumps(listen)}"] if listen else []
    try:
        config = load_config(config_file, sets=overrides)
        problems = cross_check(config)
        if any(p.severity == "error" for p in problems):
            raise ConfigError(problems)
    except ConfigError as exc:
        click.echo(format_report(exc.problems), err=True)
        sys.exit(2)
    if problems:
        click.echo(format_report(problems), err=True)
    run(build_settings(config), workers=workers or config.idgate.workers)


@main.command()
def secret() -> None:
    """Print a fresh 32-character alphanumeric secret (client secrets, encryption keys)."""
    click.echo(new_secret())


@main.command()
def version() -> None:
    """Print idgate's version."""
    click.echo(__version__)

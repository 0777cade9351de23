"""``idgate serve``: run the provider and proxies a values file describes (without ``--config``: the demo).

The settings come from the file, read in a child process (:mod:`idgate.config.apart`: the server never
loads the config models), or from :mod:`.demo`; :mod:`idgate.runtime` runs them. What the environment
says about the process is read here and handed over: ``IDGATE_LOG_FORMAT`` (``--log-format``),
``IDGATE_LOG_LEVEL``, and ``PROMETHEUS_MULTIPROC_DIR`` when the operator chose one. An address that cannot
be bound (another program has the port) is one line on stderr naming it and the setting or option that
chose it, and exit status 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from idgate.cli.options import config_option, set_option
from idgate.config.report import format_report
from idgate.errors import ConfigError

if TYPE_CHECKING:
    from idgate.runtime.listeners import ListenError
    from idgate.settings import Settings

__all__ = ["serve"]


@click.command()
@config_option("The values file (without it and IDGATE_CONFIG: the embedded demo).")
@set_option
@click.option("--workers", type=click.IntRange(min=1), help="Processes sharing the port.")
@click.option("--data-dir", help="Where local state lives (overrides idgate.data_dir).")
@click.option("--listen", help="HOST:PORT to listen on (overrides idgate.listen).")
@click.option(
    "--role",
    type=click.Choice(["all", "provider", "proxy"]),
    default="all",
    show_default=True,
    help="Run only the provider, only the proxies, or both.",
)
@click.option("--deployment", help="Run only this iap deployment (its name), e.g. with --role proxy.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    envvar="IDGATE_LOG_FORMAT",
    default="text",
    show_default=True,
    help="Logs on stderr: human-readable lines or one JSON object per line.",
)
def serve(
    *,
    config_file: str | None,
    sets: Sequence[str],
    workers: int | None,
    data_dir: str | None,
    listen: str | None,
    role: str,
    deployment: str | None,
    log_format: str,
) -> None:
    """Run the provider and proxies the file describes; without --config, the embedded demo."""
    # Before aiohttp is imported: its signals are frozenlist's FrozenList, whose C++ extension maps
    # libstdc++ (1 MB of every server's RSS) for a list aiohttp reads a few times per request of its own
    # apps (never on the edge's path); the pure-Python FrozenList is the same class.
    os.environ.setdefault("FROZENLIST_NO_EXTENSIONS", "1")
    from idgate import progress
    from idgate.runtime.processes import serve as run
    from idgate.runtime.roles import select_role

    progress.to_log()  # start-up steps (a migration) are log lines, in --log-format

    def only(settings: Settings) -> Settings:
        try:
            return select_role(settings, role, deployment)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    log_level = os.environ.get("IDGATE_LOG_LEVEL", "INFO")
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None  # the operator's (else workers make one)

    def running(settings: Settings, workers: int) -> None:
        from idgate.runtime.listeners import ListenError

        try:
            run(
                settings, workers=workers, log_format=log_format, log_level=log_level, metrics_dir=metrics_dir
            )
        except ListenError as exc:
            click.echo(f"error: {_listen_message(exc, config_file, listen)}", err=True)
            sys.exit(1)

    if config_file is None:
        if sets:
            raise click.UsageError("--set needs --config")
        from dataclasses import replace

        from idgate.cli.demo import demo_settings
        from idgate.runtime.metrics import DEFAULT_METRICS_LISTEN

        settings = demo_settings(data_dir or "./data", listen or "127.0.0.1:4180")
        settings = replace(settings, metrics_listen=DEFAULT_METRICS_LISTEN, metrics_optional=True)
        running(only(settings), workers or 1)
        return

    from idgate.config.apart import read_apart

    overrides = [*sets]
    overrides += [f"idgate.data_dir={json.dumps(data_dir)}"] if data_dir else []
    overrides += [f"idgate.listen={json.dumps(listen)}"] if listen else []
    try:
        read = read_apart(config_file, overrides)  # the server itself never loads the config models
    except ConfigError as exc:
        click.echo(format_report(exc.problems), err=True)
        sys.exit(2)
    if read.warnings:
        click.echo(format_report(list(read.warnings)), err=True)
    running(only(read.settings), workers or read.workers)


def _listen_message(exc: ListenError, config_file: str | None, listen: str | None) -> str:
    """One line: the address, the setting (or option) that names it, the reason, what to do."""
    if exc.key == "idgate.listen" and (listen or config_file is None):
        where = "--listen"
    else:
        where = f"{exc.key} in {config_file}" if config_file else exc.key
    hint = ""
    if "in use" in exc.reason:
        also = " (OAuth2-Proxy's default port too)" if exc.address.endswith(":4180") else ""
        hint = f"; another program has this port{also}: stop it or change {where}"
    return f"cannot listen on {exc.address}, set by {where}: {exc.reason}{hint}"

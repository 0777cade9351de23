"""The ``idgate`` command. Thin: parse options, call the config package or the app, map results to exits.

::

    idgate check FILE [--set PATH=VALUE]...       every problem, one per line; exit 0/1/2
    idgate serve [--config FILE] [--set ...]      run what the file describes (without --config: the demo)
          [--workers N] [--data-dir DIR] [--listen HOST:PORT] [--role provider|proxy|all [--deployment NAME]]
          [--log-format text|json]
    idgate render kubernetes|nginx --config FILE   manifests / an nginx config (idgate.deploy.commands)
    idgate init --domain D --service NAME=HOST:PORT...   a values file with fresh secrets
          [--github-org ORG [--github-team T]] [--kkp-client] [--local [--port N]] [--out FILE [--force]]
    idgate secret                                  a fresh 32-character [A-Za-z0-9] secret
    idgate client add|list|delete, user add|list|delete|passwd|unlock|totp, keys list|rotate   (idgate.admin)
    idgate version

Results go to stdout, problems and progress to stderr: long steps (migrations, ``keys rotate``,
``render``, ``init``) say what they do there (:mod:`idgate.progress`; ``idgate -q CMD`` for none).
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
@click.option(
    "--quiet", "-q", is_flag=True, envvar="IDGATE_QUIET", help="No progress lines on stderr (idgate -q CMD)."
)
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """idgate: single sign-on for internal web services (an OIDC provider and an identity-aware proxy)."""
    from idgate import progress

    # Long steps (migrations, key rotation, rendering) say what they do on stderr; stdout keeps the
    # command's output. `serve` logs them instead (idgate.progress).
    progress.to_stderr(quiet=quiet)
    ctx.call_on_close(progress.to_log)


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
    from idgate import progress
    from idgate.app import select_role
    from idgate.app import serve as run
    from idgate.settings import Settings

    progress.to_log()  # start-up steps (a migration) are log lines, in --log-format

    def only(settings: Settings) -> Settings:
        try:
            return select_role(settings, role, deployment)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    if config_file is None:
        if sets:
            raise click.UsageError("--set needs --config")
        from dataclasses import replace

        from idgate.demo import demo_settings
        from idgate.observability import DEFAULT_METRICS_LISTEN

        settings = demo_settings(data_dir or "./data", listen or "127.0.0.1:4180")
        settings = replace(settings, metrics_listen=DEFAULT_METRICS_LISTEN, metrics_optional=True)
        run(only(settings), workers=workers or 1, log_format=log_format)
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
    run(only(read.settings), workers=workers or read.workers, log_format=log_format)


@main.command()
@click.option("--domain", help="Primary domain: the provider at https://DOMAIN/dex, services at NAME.DOMAIN.")
@click.option(
    "--service",
    "services",
    multiple=True,
    metavar="NAME=HOST:PORT",
    help="A service to protect and its upstream, e.g. prometheus=prometheus.monitoring.svc:9090.",
)
@click.option("--github-org", help="Log in with GitHub; only members of ORG pass.")
@click.option("--github-team", help="Only members of this team of --github-org pass.")
@click.option("--kkp-client", is_flag=True, help="Also write the KKP dashboard's `kubermatic` client.")
@click.option("--local", is_flag=True, help="A variant for this machine: http://NAME.localhost:PORT.")
@click.option("--port", type=click.IntRange(1, 65535), help="With --local: the port (default 4180).")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here (mode 0600) instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite an existing --out file.")
def init(  # click passes every option by name
    *,
    domain: str | None,
    services: Sequence[str],
    github_org: str | None,
    github_team: str | None,
    kkp_client: bool,
    local: bool,
    port: int | None,
    out: str | None,
    force: bool,
) -> None:
    """Write a complete values file with fresh secrets for a domain and its services."""
    import os

    from idgate.init import InitOptions, parse_service, render, validate
    from idgate.progress import step

    problems: list[Problem] = []
    parsed = []
    for spec in services:
        try:
            parsed.append(parse_service(spec))
        except ConfigError as exc:
            problems += exc.problems
    if out is not None and not force and os.path.lexists(out):
        problems.append(Problem("--out", f"{out} exists; give --force to overwrite it"))
    options = InitOptions(tuple(parsed), domain, github_org, github_team, kkp_client, local, port)
    problems += validate(options)
    if problems:
        click.echo(format_report(problems), err=True)
        sys.exit(2)
    plural = "" if len(parsed) == 1 else "s"
    with step(f"Generating fresh secrets for {len(parsed)} service{plural}"):  # and a bcrypt hash
        made = render(options, make_secret=new_secret)
    if out is None:
        click.echo(made.text, nl=False)
    else:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        try:
            fd = os.open(out, flags, 0o600)
        except OSError as exc:
            click.echo(f"error: --out: cannot write {out}: {exc.strerror}", err=True)
            sys.exit(2)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)  # it holds secrets, also when --force reuses a file
            f.write(made.text)
        click.echo(f"wrote {out}; check it with: idgate check {out}", err=True)
    if made.admin_password is not None:
        click.echo(
            f"log in as {made.admin_email} with password {made.admin_password}\n"
            "(shown once: only its bcrypt hash is in the file)",
            err=True,
        )


@main.command()
def secret() -> None:
    """Print a fresh 32-character alphanumeric secret (client secrets, encryption keys)."""
    click.echo(new_secret())


@main.command()
def version() -> None:
    """Print idgate's version."""
    click.echo(__version__)


from idgate.deploy.commands import render  # noqa: E402 - the `render` group lives with what it renders

main.add_command(render)

from idgate.admin import client, keys, user  # noqa: E402 - admin commands live in idgate.admin

main.add_command(client)
main.add_command(user)
main.add_command(keys)

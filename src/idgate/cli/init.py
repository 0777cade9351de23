"""``idgate init``: write a complete values file with fresh secrets (the file itself:
:mod:`idgate.config.starter`, which is pure; here the options, the ``--out`` file and the messages)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from idgate.config.report import format_report
from idgate.errors import ConfigError, Problem

__all__ = ["init"]


@click.command()
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
    from idgate.config.starter import InitOptions, parse_service, render, validate
    from idgate.progress import step
    from idgate.secrets import new_secret

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

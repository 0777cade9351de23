"""The ``idgate`` command. Thin: parse options, call the config package or the runtime, map results to exits.

::

    idgate check FILE|--config FILE [--set ...]   every problem, one per line; exit 0/1/2     (.check)
    idgate serve [--config FILE] [--set ...]      run what the file describes (without --config: the demo)
          [--workers N] [--data-dir DIR] [--listen HOST:PORT] [--role provider|proxy|all [--deployment NAME]]
          [--log-format text|json]                                                         (.serve, .demo)
    idgate render kubernetes|nginx --config FILE   manifests / an nginx config                 (.render)
    idgate init --domain D --service NAME=HOST:PORT...   a values file with fresh secrets        (.init)
          [--github-org ORG [--github-team T]] [--kkp-client] [--local [--port N]] [--out FILE [--force]]
    idgate secret                                  a fresh 32-character [A-Za-z0-9] secret   (.secret)
    idgate client add|list|delete                  OAuth clients in storage                  (.client)
    idgate user add|list|delete|passwd|unlock|totp users of the local connector              (.user)
    idgate keys list|rotate                        the provider's signing keys                 (.keys)
    idgate version

One module per command group, imported when its command is asked for (:data:`COMMANDS`), so that a
server (``idgate serve``) does not keep the others, and what they import, in memory for its whole life.
Each finds its work in a core (:mod:`idgate.config`, :mod:`idgate.deploy`, :mod:`idgate.storage` ...) or in
:mod:`idgate.runtime` (``serve``), and imports it when it runs, so that ``idgate --help`` loads none of
them. The administration commands (client, user, keys) share :mod:`.storage` (``--storage URL`` or
``--config FILE``). ``--config`` is one option everywhere (:mod:`.options`), read from ``IDGATE_CONFIG``
when not given.

Results go to stdout, problems and progress to stderr: long steps (migrations, ``keys rotate``,
``render``, ``init``) say what they do there (:mod:`idgate.progress`, :mod:`.progress`; ``idgate -q CMD``
for none).
"""

from __future__ import annotations

import importlib

import click

from idgate import __version__

__all__ = ["COMMANDS", "main"]

#: command -> the module that defines it, under the command's own name.
COMMANDS = {
    "check": "idgate.cli.check",
    "client": "idgate.cli.client",
    "init": "idgate.cli.init",
    "keys": "idgate.cli.keys",
    "render": "idgate.cli.render",
    "secret": "idgate.cli.secret",
    "serve": "idgate.cli.serve",
    "user": "idgate.cli.user",
}


class _Commands(click.Group):
    """A group that imports a command's module when the command is asked for (run, or listed in
    ``--help``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="idgate")
@click.option(
    "--quiet", "-q", is_flag=True, envvar="IDGATE_QUIET", help="No progress lines on stderr (idgate -q CMD)."
)
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """idgate: single sign-on for internal web services (an OIDC provider and an identity-aware proxy)."""
    from idgate import progress
    from idgate.cli.progress import to_stderr

    # Long steps (migrations, key rotation, rendering) say what they do on stderr; stdout keeps the
    # command's output. `serve` logs them instead (idgate.progress).
    to_stderr(quiet=quiet)
    ctx.call_on_close(progress.to_log)


@main.command()
def version() -> None:
    """Print idgate's version."""
    click.echo(__version__)

"""``--help`` is read by people in a terminal: plain text, no reStructuredText (``totp``, :mod:`x`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from idgate.cli import main

RST = re.compile(r"``|:(?:mod|func|class|meth|data|attr|exc|obj|ref):`")


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(main))


def test_every_command_is_walked() -> None:
    assert ("user", "list") in COMMANDS and ("user", "totp", "enroll") in COMMANDS and len(COMMANDS) > 15


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "idgate")
def test_help_is_plain_text(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if RST.search(line)]


def test_the_checker_sees_rst() -> None:
    assert RST.search("when they have ``totp``") and RST.search("see :mod:`idgate.deploy`")
    assert not RST.search("a `--set` option and a 'quoted' word")

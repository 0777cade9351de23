"""The ``idgate`` command's progress lines on stderr (:mod:`idgate.progress` says what a step is)::

    Migrating storage from 0002 to 0003 ... 3 tables in 0.31 s

The ``idgate`` group selects them (:func:`to_stderr`; nothing with ``--quiet``) and goes back to logging
when the command ends. A step started while another is open (a migration inside ``idgate keys rotate``)
ends the open line first, and the outer step then repeats its name with its time.
"""

from __future__ import annotations

import click

from idgate import progress
from idgate.progress import Step

__all__ = ["to_stderr"]


class _Stderr:
    """Commands: ``what ... done in 0.31 s`` on stderr, the line left open while the step runs."""

    def __init__(self) -> None:
        self._open: Step | None = None  # the step whose line waits for its end

    def start(self, s: Step) -> None:
        if self._open is not None:
            click.echo("", err=True)  # a nested step: end the outer's line
        click.echo(f"{s.what} ... ", err=True, nl=False)
        self._open = s

    def end(self, s: Step, seconds: float, failed: bool) -> None:
        if self._open is not s:  # something else was written since: name the step again
            click.echo(f"{s.what} ... ", err=True, nl=False)
        self._open = None
        if failed:
            click.echo(f"failed after {seconds:.2f} s", err=True)
        else:
            click.echo(f"{s.note or 'done'} in {seconds:.2f} s", err=True)


class _Quiet:
    def start(self, s: Step) -> None:
        pass

    def end(self, s: Step, seconds: float, failed: bool) -> None:
        pass


def to_stderr(*, quiet: bool = False) -> None:
    """Report steps on stderr from now on (nothing at all when ``quiet``): what commands do."""
    progress.report_to(_Quiet() if quiet else _Stderr())

"""``idgate secret``: a fresh 32-character alphanumeric secret (:func:`idgate.secrets.new_secret`)."""

from __future__ import annotations

import click

from idgate.secrets import new_secret

__all__ = ["secret"]


@click.command()
def secret() -> None:
    """Print a fresh 32-character alphanumeric secret (client secrets, encryption keys)."""
    click.echo(new_secret())

"""Options that several commands share."""

from __future__ import annotations

import click

__all__ = ["set_option"]

#: ``--set PATH=VALUE`` of ``check`` and ``serve`` (``render`` has its own help text).
set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a value before validation, e.g. iap.deployments.prometheus.upstream_port=9091.",
)

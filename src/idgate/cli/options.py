"""Options that several commands share.

``--config FILE`` is the same option everywhere it appears (``check``, ``serve``, ``render``, ``client``,
``user``, ``keys``), and ``IDGATE_CONFIG`` gives it once for a shell: ``export IDGATE_CONFIG=values.yaml``,
then ``idgate user list``. An option on the command line wins over the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

__all__ = ["CONFIG_ENV", "config_option", "set_option"]

#: The environment variable that stands for ``--config FILE``.
CONFIG_ENV = "IDGATE_CONFIG"

#: ``--set PATH=VALUE`` of ``check``, ``serve`` and ``render`` (:mod:`idgate.config.overrides`).
set_option = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override a value before validation, e.g. iap.deployments.prometheus.upstream_port=9091 or "
    "Helm's list syntax iap.deployments.grafana.config.email_domains={example.com,example.org}.",
)


F = TypeVar("F", bound=Callable[..., object])


def config_option(help_text: str = "The values file.", *, required: bool = False) -> Callable[[F], F]:
    """``--config FILE``, read from ``IDGATE_CONFIG`` when not given."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        envvar=CONFIG_ENV,
        show_envvar=True,
        required=required,
        help=help_text,
    )

"""``idgate render kubernetes|nginx``: the click commands (added to ``idgate`` by :mod:`idgate.cli`).

::

    idgate render kubernetes --config FILE [--set ...] [--out DIR] [--namespace-provider oauth]
          [--namespace-proxy iap] [--image IMAGE] [--certificates]
    idgate render nginx --config FILE [--set ...] [--listen PORT] [--idgate HOST:PORT] [--resolver ADDR]
          [--standalone DIR]

Output goes to stdout (``--out`` writes one file per object); problems go to stderr with their YAML
paths, exit 2 when the file cannot be rendered. Warnings (keys with no effect) do not stop the render.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import click

from idgate.config.report import format_report
from idgate.errors import ConfigError, Problem

__all__ = ["render"]


def _fail(problems: list[Problem]) -> None:
    click.echo(format_report(problems), err=True)
    sys.exit(2)


_config = click.option(
    "--config", "config_file", required=True, type=click.Path(dir_okay=False), help="The values file."
)
_sets = click.option(
    "--set", "sets", multiple=True, metavar="PATH=VALUE", help="Override a value before validation."
)


@click.group()
def render() -> None:
    """Turn the values file into what runs it elsewhere: Kubernetes manifests, an nginx config."""


@render.command()
@_config
@_sets
@click.option("--out", type=click.Path(file_okay=False), help="Write one file per object under DIR.")
@click.option("--namespace-provider", default="oauth", show_default=True, help="The provider's namespace.")
@click.option("--namespace-proxy", default="iap", show_default=True, help="The proxies' namespace.")
@click.option("--image", help="idgate's image (default: idgate.kubernetes.image, else this version's).")
@click.option("--certificates", is_flag=True, help="cert-manager Certificate objects, not annotations.")
def kubernetes(
    *,
    config_file: str,
    sets: Sequence[str],
    out: str | None,
    namespace_provider: str,
    namespace_proxy: str,
    image: str | None,
    certificates: bool,
) -> None:
    """Manifests for what the oauth and iap charts create, running idgate (multi-document YAML)."""
    from idgate.config import load_config
    from idgate.deploy.common import dump_all
    from idgate.deploy.kubernetes import RenderOptions, render_kubernetes, write_dir

    options = RenderOptions(namespace_provider, namespace_proxy, image, certificates)
    try:
        rendered = render_kubernetes(load_config(config_file, sets=sets), options)
    except ConfigError as exc:
        _fail(exc.problems)
        return
    if rendered.warnings:
        click.echo(format_report(rendered.warnings), err=True)
    if out is None:
        click.echo(dump_all(rendered.objects), nl=False)
        return
    written = write_dir(rendered.objects, Path(out))
    click.echo(f"wrote {len(written)} files under {out}; apply with: kubectl apply -R -f {out}", err=True)


@render.command()
@_config
@_sets
@click.option("--listen", default="80", show_default=True, help="nginx's listen directive value.")
@click.option("--idgate", "idgate_address", help="Where idgate listens (default: idgate.listen).")
@click.option("--resolver", help="DNS server: resolve upstream names per request, not once at start.")
@click.option(
    "--standalone",
    type=click.Path(file_okay=False),
    help="A whole nginx.conf whose pid, logs and temp files live in DIR (for `nginx -t -c`).",
)
def nginx(
    *,
    config_file: str,
    sets: Sequence[str],
    listen: str,
    idgate_address: str | None,
    resolver: str | None,
    standalone: str | None,
) -> None:
    """An nginx configuration for the auth_request integration (nginx in front, idgate deciding)."""
    from idgate.config import load_config
    from idgate.deploy.nginx import NginxOptions, render_nginx

    try:
        config = load_config(config_file, sets=sets)
    except ConfigError as exc:
        _fail(exc.problems)
        return
    if standalone is not None:
        standalone = str(Path(standalone).resolve())
    click.echo(render_nginx(config, NginxOptions(listen, idgate_address, resolver, standalone)), nl=False)

"""``idgate render kubernetes|nginx``: the click commands over the renderers of :mod:`idgate.deploy`.

::

    idgate render kubernetes --config FILE [--set ...] [--out DIR] [--namespace-provider oauth]
          [--namespace-proxy iap] [--image IMAGE] [--certificates]
    idgate render nginx --config FILE [--set ...] [--listen PORT] [--idgate HOST:PORT] [--resolver ADDR]
          [--standalone DIR] [--cache-seconds N] [--cache-dir DIR]

Output goes to stdout (``--out`` writes one file per object); problems go to stderr with their YAML
paths, exit 2 when the file cannot be rendered: the checks of ``idgate check`` decide (``check(config,
"kubernetes")`` and ``check(config, "serve")``, :mod:`idgate.config.checks`), with the same messages;
``render nginx`` adds its own (:func:`idgate.deploy.nginx.nginx_problems`: nginx listening where idgate
does, hosts whose port is not nginx's, Kubernetes Service names without ``--resolver``).
Warnings do not stop the render.
What is being rendered, and how long it took, is a progress line on stderr (:mod:`idgate.progress`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from idgate.cli.options import config_option, set_option
from idgate.config.report import format_report
from idgate.errors import ConfigError, Problem
from idgate.progress import step

if TYPE_CHECKING:
    from idgate.config import Config

__all__ = ["render"]


def _fail(problems: list[Problem]) -> None:
    click.echo(format_report(problems), err=True)
    sys.exit(2)


def _what(config: Config) -> str:
    """``the provider and 3 deployments``: what a render of ``config`` covers, for its progress line."""
    parts = ["the provider"] if config.dex is not None and config.dex.ingress.host else []
    n = len(config.iap.deployments) if config.iap is not None else 0
    if n or not parts:
        parts.append(f"{n} deployment{'' if n == 1 else 's'}")
    return " and ".join(parts)


_config = config_option(required=True)
_sets = set_option


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
        config = load_config(config_file, sets=sets)
        with step(f"Rendering Kubernetes manifests for {_what(config)}") as progress:
            rendered = render_kubernetes(config, options)
            progress.note = f"{len(rendered.objects)} objects"
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
    help="A whole nginx.conf whose pid, logs, temp files and cache live in DIR (for `nginx -c`).",
)
@click.option(
    "--cache-seconds",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="How long nginx keeps idgate's 202 per credential (0: ask idgate on every request).",
)
@click.option(
    "--cache-dir",
    help="Where nginx caches idgate's answers "
    "[default: /var/cache/nginx/idgate; with --standalone, DIR/auth-cache].",
)
def nginx(
    *,
    config_file: str,
    sets: Sequence[str],
    listen: str,
    idgate_address: str | None,
    resolver: str | None,
    standalone: str | None,
    cache_seconds: int,
    cache_dir: str | None,
) -> None:
    """An nginx configuration for the auth_request integration (nginx in front, idgate deciding)."""
    from idgate.config import check, load_config
    from idgate.deploy.nginx import NginxOptions, nginx_problems, render_nginx

    try:
        config = load_config(config_file, sets=sets)
    except ConfigError as exc:
        _fail(exc.problems)
        return
    if standalone is not None:
        standalone = str(Path(standalone).resolve())
    options = NginxOptions(
        listen=listen,
        idgate=idgate_address,
        resolver=resolver,
        standalone=standalone,
        cache_seconds=cache_seconds,
        cache_dir=cache_dir,
    )
    # idgate behind nginx serves this file: what serve refuses stops here, and so does a loop
    problems = check(config, "serve") + nginx_problems(config, options)
    if any(p.severity == "error" for p in problems):
        _fail(problems)
        return
    if problems:
        click.echo(format_report(problems), err=True)
    with step(f"Rendering the nginx configuration for {_what(config)}"):
        text = render_nginx(config, options)
    click.echo(text, nl=False)

"""``idgate client add|list|delete``: the provider's OAuth clients in storage (:mod:`.storage`).

::

    idgate client add --id ID [--secret S | --public] [--name N] --redirect-uri URI...
                      [--post-logout-redirect-uri URI]... [--trusted-peer ID]... [--no-pkce]
                      [--allow-insecure-redirect]
    idgate client list | delete ID

Secrets are never printed, except one that ``client add`` generated (shown once). Clients of the
config file's ``dex.clients`` are listed, marked ``(config file)``, and cannot be changed here.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from idgate.cli.storage import Target, resolve_target, run, static_ids, storage_options
from idgate.errors import AlreadyExists, NotFound
from idgate.storage.base import Client, Storage

__all__ = ["client"]


@click.group()
def client() -> None:
    """OAuth clients of the provider."""


@client.command("add")
@storage_options
@click.option("--id", "client_id", required=True, help="The client_id.")
@click.option("--secret", help="The client secret (default: a new random one, printed once).")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE protects it).")
@click.option("--name", default="", help="Shown on the login page.")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, required=True, help="Registered redirect URI."
)
@click.option("--post-logout-redirect-uri", "logout_uris", multiple=True, help="Where logout may return to.")
@click.option(
    "--trusted-peer", "peers", multiple=True, help="A client that may put this one in its audience."
)
@click.option("--no-pkce", is_flag=True, help="Let this confidential client skip PKCE.")
@click.option(
    "--allow-insecure-redirect",
    "insecure",
    is_flag=True,
    help="Register plain http to a host that is not loopback, or a private-use scheme without a dot.",
)
def client_add(  # noqa: PLR0917 - one parameter per option
    config_file: str | None,
    storage_url: str | None,
    client_id: str,
    secret: str | None,
    public: bool,
    name: str,
    redirect_uris: Sequence[str],
    logout_uris: Sequence[str],
    peers: Sequence[str],
    no_pkce: bool,
    insecure: bool,
) -> None:
    """Add a client."""
    from idgate.secrets import new_secret

    if public and secret:
        raise click.UsageError("a --public client has no --secret")
    if public and no_pkce:
        raise click.UsageError("a --public client always uses PKCE")
    _check_redirects(redirect_uris, logout_uris, insecure=insecure)
    generated = None if public or secret else new_secret()
    record = Client(
        id=client_id,
        secret="" if public else (secret or generated or ""),
        name=name,
        redirect_uris=tuple(redirect_uris),
        public=public,
        trusted_peers=tuple(peers),
        post_logout_redirect_uris=tuple(logout_uris),
        require_pkce=not no_pkce,
    )

    async def add(storage: Storage, _target: Target) -> None:
        try:
            await storage.create(record)
        except AlreadyExists:
            raise click.ClickException(f"client {client_id!r} exists already") from None

    run(resolve_target(config_file, storage_url), add)
    click.echo(f"added client {client_id}")
    if generated is not None:
        click.echo(f"secret: {generated}")


def _check_redirects(redirect_uris: Sequence[str], logout_uris: Sequence[str], *, insecure: bool) -> None:
    """Refuse a redirect URI that must not be registered (:func:`registration_problem`); one that only
    should not be (plain http to a host that is not loopback ...) needs ``--allow-insecure-redirect``."""
    from idgate.oauth2.redirect_uris import registration_problem

    for option, uris in (("--redirect-uri", redirect_uris), ("--post-logout-redirect-uri", logout_uris)):
        for uri in uris:
            found = registration_problem(uri)
            if found is None:
                continue
            if found.severity == "warning" and insecure:
                click.echo(f"warning: {option} {uri!r} {found.message}", err=True)
                continue
            hint = "" if found.severity == "error" else " (--allow-insecure-redirect registers it anyway)"
            raise click.BadParameter(f"{uri!r} {found.message}{hint}", param_hint=f"'{option}'")


@client.command("list")
@storage_options
def client_list(config_file: str | None, storage_url: str | None) -> None:
    """List the clients (id, name, redirect URIs; never secrets)."""
    target = resolve_target(config_file, storage_url)
    clients = run(target, lambda storage, _t: storage.list(Client))
    static = static_ids(target, "client")
    if clients:
        click.echo("ID\tNAME\tTYPE\tREDIRECT URIS")
    for c in clients:
        kind = "public" if c.public else "confidential"
        origin = " (config file)" if c.id in static else ""
        click.echo(f"{c.id}\t{c.name or '-'}\t{kind}\t{' '.join(c.redirect_uris)}{origin}")


@client.command("delete")
@storage_options
@click.argument("client_id")
def client_delete(config_file: str | None, storage_url: str | None, client_id: str) -> None:
    """Delete a client."""

    async def delete(storage: Storage, _target: Target) -> None:
        try:
            await storage.delete(Client, client_id)
        except NotFound:
            raise click.ClickException(f"no client {client_id!r}") from None

    run(resolve_target(config_file, storage_url), delete)
    click.echo(f"deleted client {client_id}")

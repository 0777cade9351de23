"""Administration commands on the configured storage: ``idgate client|user|keys ...``.

::

    idgate client add --id ID [--secret S | --public] [--name N] --redirect-uri URI...
                      [--post-logout-redirect-uri URI]... [--trusted-peer ID]... [--no-pkce]
    idgate client list | delete ID
    idgate user add --email E [--username U] [--user-id ID] [--password P]    (prompted when not given)
    idgate user list | delete EMAIL | passwd EMAIL [--password P] | unlock [LOGIN] [--ip ADDRESS]
    idgate keys list | rotate

Every command finds the storage with ``--storage URL`` or ``--config FILE`` (``idgate.storage``; the file's
``dex.clients`` and ``dex.staticPasswords`` are shown too, and cannot be changed here). Users added here
log in through the ``local`` connector. Secrets and password hashes are never printed, except a client
secret that ``client add`` generated (shown once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import bcrypt
import click

from idgate.errors import AlreadyExists, ConfigError, NotFound, StorageError
from idgate.oidc.keys import KeyRing
from idgate.settings import ProviderSettings
from idgate.storage.base import Client, Password, Storage

__all__ = ["client", "keys", "user"]

T = TypeVar("T")
BCRYPT_COST = 10


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the commands work: a storage URL, and the provider settings when a config was given."""

    url: str
    pool_size: int = 2
    provider: ProviderSettings | None = None


def _target(config_file: str | None, storage_url: str | None) -> Target:
    if storage_url:
        return Target(storage_url)
    if not config_file:
        raise click.UsageError("give --config FILE (the values file) or --storage URL")
    from idgate.config import build_settings, load_config
    from idgate.config.report import format_report

    try:
        settings = build_settings(load_config(config_file))
    except ConfigError as exc:
        click.echo(format_report(exc.problems), err=True)
        sys.exit(2)
    return Target(settings.storage, provider=settings.provider)


def _run(target: Target, action: Callable[[Storage, Target], Awaitable[T]]) -> T:
    """Open the storage (with the config's static records over it), run ``action``, close it."""

    async def main() -> T:
        from idgate.storage import open_storage

        backend = await open_storage(target.url, pool_size=target.pool_size)
        try:
            storage: Storage = backend
            if target.provider is not None:
                from idgate.provider.app import with_static

                storage = with_static(backend, target.provider)
            return await action(storage, target)
        finally:
            await backend.close()

    try:
        return asyncio.run(main())
    except NotFound as exc:
        raise click.ClickException(str(exc)) from None
    except AlreadyExists:
        raise click.ClickException("it exists already") from None
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None


def _storage_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--storage", "storage_url", metavar="URL", help="sqlite:///PATH or postgresql://...")(
        fn
    )
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), help="The values file (idgate.storage)."
    )(fn)


def _static_ids(target: Target, kind: str) -> set[str]:
    if target.provider is None:
        return set()
    if kind == "client":
        return {c.id for c in target.provider.clients}
    return {p.email.lower() for p in target.provider.static_passwords}


# -- clients ------------------------------------------------------------------------------------


@click.group()
def client() -> None:
    """OAuth clients of the provider."""


@client.command("add")
@_storage_options
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
) -> None:
    """Add a client."""
    from idgate.cli import new_secret

    if public and secret:
        raise click.UsageError("a --public client has no --secret")
    if public and no_pkce:
        raise click.UsageError("a --public client always uses PKCE")
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

    _run(_target(config_file, storage_url), add)
    click.echo(f"added client {client_id}")
    if generated is not None:
        click.echo(f"secret: {generated}")


@client.command("list")
@_storage_options
def client_list(config_file: str | None, storage_url: str | None) -> None:
    """List the clients (id, name, redirect URIs; never secrets)."""
    target = _target(config_file, storage_url)
    clients = _run(target, lambda storage, _t: storage.list(Client))
    static = _static_ids(target, "client")
    for c in clients:
        kind = "public" if c.public else "confidential"
        origin = " (config file)" if c.id in static else ""
        click.echo(f"{c.id}\t{c.name or '-'}\t{kind}\t{' '.join(c.redirect_uris)}{origin}")


@client.command("delete")
@_storage_options
@click.argument("client_id")
def client_delete(config_file: str | None, storage_url: str | None, client_id: str) -> None:
    """Delete a client."""

    async def delete(storage: Storage, _target: Target) -> None:
        try:
            await storage.delete(Client, client_id)
        except NotFound:
            raise click.ClickException(f"no client {client_id!r}") from None

    _run(_target(config_file, storage_url), delete)
    click.echo(f"deleted client {client_id}")


# -- users --------------------------------------------------------------------------------------


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=BCRYPT_COST)).decode("ascii")


_password_option = click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted when not given."
)


@click.group()
def user() -> None:
    """Users of the local connector (email and bcrypt password)."""


@user.command("add")
@_storage_options
@click.option("--email", required=True)
@click.option("--username", default="", help="Default: the part of the email before @.")
@click.option("--user-id", default="", help="The stable user id (default: a new UUID).")
@_password_option
def user_add(  # noqa: PLR0917 - one parameter per option
    config_file: str | None, storage_url: str | None, email: str, username: str, user_id: str, password: str
) -> None:
    """Add a user who logs in with email and password."""
    if "@" not in email:
        raise click.UsageError("--email must be an email address")
    if len(password) < 8:
        raise click.UsageError("the password must have at least 8 characters")
    record = Password(
        id=email.strip().lower(),
        email=email.strip(),
        hash=_hash(password),
        username=username or email.split("@", 1)[0],
        user_id=user_id or str(uuid.uuid4()),
    )

    async def add(storage: Storage, _target: Target) -> None:
        try:
            await storage.create(record)
        except AlreadyExists:
            raise click.ClickException(f"user {email!r} exists already") from None

    _run(_target(config_file, storage_url), add)
    click.echo(f"added user {record.email} (user id {record.user_id})")


@user.command("list")
@_storage_options
def user_list(config_file: str | None, storage_url: str | None) -> None:
    """List the users (email, username, user id; never hashes)."""
    target = _target(config_file, storage_url)
    users = _run(target, lambda storage, _t: storage.list(Password))
    static = _static_ids(target, "user")
    for u in users:
        origin = " (config file)" if u.id in static else ""
        click.echo(f"{u.email}\t{u.username}\t{u.user_id}{origin}")


@user.command("delete")
@_storage_options
@click.argument("email")
def user_delete(config_file: str | None, storage_url: str | None, email: str) -> None:
    """Delete a user; their refresh tokens stop working at their next use."""

    async def delete(storage: Storage, _target: Target) -> None:
        try:
            await storage.delete(Password, email.strip().lower())
        except NotFound:
            raise click.ClickException(f"no user {email!r}") from None

    _run(_target(config_file, storage_url), delete)
    click.echo(f"deleted user {email}")


@user.command("passwd")
@_storage_options
@click.argument("email")
@_password_option
def user_passwd(config_file: str | None, storage_url: str | None, email: str, password: str) -> None:
    """Set a user's password."""
    if len(password) < 8:
        raise click.UsageError("the password must have at least 8 characters")
    hashed = _hash(password)

    async def passwd(storage: Storage, _target: Target) -> None:
        try:
            await storage.update(
                Password, email.strip().lower(), lambda p: dataclasses.replace(p, hash=hashed)
            )
        except NotFound:
            raise click.ClickException(f"no user {email!r}") from None

    _run(_target(config_file, storage_url), passwd)
    click.echo(f"changed the password of {email}")


@user.command("unlock")
@_storage_options
@click.argument("login", required=False, default="")
@click.option("--ip", "address", default="", help="Also clear the failed logins counted for this address.")
def user_unlock(config_file: str | None, storage_url: str | None, login: str, address: str) -> None:
    """Clear the failed-login lockout of LOGIN (any connector's user name or email) and/or an --ip."""
    if not login and not address:
        raise click.UsageError("give a LOGIN, an --ip ADDRESS, or both")
    from idgate.provider.throttle import unlock

    async def clear(storage: Storage, _target: Target) -> list[str]:
        return await unlock(storage, username=login, address=address)

    cleared = _run(_target(config_file, storage_url), clear)
    what = " and ".join(x for x in (login and f"user {login}", address and f"address {address}") if x)
    click.echo(f"unlocked {what}" if cleared else f"{what}: nothing was locked")


# -- keys ---------------------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ring(storage: Storage, target: Target) -> KeyRing:
    from idgate.clock import SystemClock

    provider = target.provider or ProviderSettings(issuer="http://unused")
    return KeyRing(
        storage,
        SystemClock(),
        provider.signing_key_ttl,
        algorithm=provider.signing_algorithm,
        token_ttl=provider.id_token_ttl,
    )


@click.group()
def keys() -> None:
    """The provider's signing keys."""


@keys.command("list")
@_storage_options
def keys_list(config_file: str | None, storage_url: str | None) -> None:
    """List the signing keys: kid, algorithm, state, created."""
    from idgate.storage.base import SigningKeys

    async def listing(storage: Storage, target: Target) -> SigningKeys:
        return await _ring(storage, target).stored()

    stored = _run(_target(config_file, storage_url), listing)
    click.echo(f"next rotation: {_when(stored.next_rotation)}")
    for i, key in enumerate(stored.keys):
        state = "signing" if i == 0 else f"retired, published until {_when(key.retire_at)}"
        click.echo(f"{key.kid}\t{key.alg}\t{state}\tcreated {_when(key.created_at)}")
    if stored.next is not None:
        click.echo(f"{stored.next.kid}\t{stored.next.alg}\tnext\tcreated {_when(stored.next.created_at)}")


@keys.command("rotate")
@_storage_options
def keys_rotate(config_file: str | None, storage_url: str | None) -> None:
    """Rotate now: the next key signs, the signer retires (published until its tokens expired)."""

    async def rotate(storage: Storage, target: Target) -> str:
        return (await _ring(storage, target).rotate(force=True)).keys[0].kid

    kid = _run(_target(config_file, storage_url), rotate)
    click.echo(f"rotated: {kid} signs now (running providers pick it up within a minute)")

"""Administration commands on the configured storage: ``idgate client|user|keys ...``.

::

    idgate client add --id ID [--secret S | --public] [--name N] --redirect-uri URI...
                      [--post-logout-redirect-uri URI]... [--trusted-peer ID]... [--no-pkce]
                      [--allow-insecure-redirect]
    idgate client list | delete ID
    idgate user add --email E [--username U] [--user-id ID] [--password P]    (prompted when not given)
    idgate user list | delete EMAIL | passwd EMAIL [--password P] | unlock [LOGIN] [--ip ADDRESS]
    idgate user totp enroll EMAIL [--code C] [--secret BASE32] [--issuer NAME]
    idgate user totp disable EMAIL | recovery-codes EMAIL
    idgate keys list | rotate

Every command finds the storage with ``--storage URL`` or ``--config FILE`` (``idgate.storage``; the file's
``dex.clients`` and ``dex.staticPasswords`` are shown too, and cannot be changed here). Users added here
log in through the ``local`` connector. Secrets and password hashes are never printed, except a client
secret that ``client add`` generated, and a TOTP secret with its recovery codes at enrolment (each shown
once).
"""

from __future__ import annotations

import asyncio
import contextlib
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
from idgate.storage.base import Client, Password, SecondFactor, Storage

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
                from idgate.provider.core import with_static

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
    from idgate.cli import new_secret

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

    _run(_target(config_file, storage_url), add)
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
    from idgate.connectors.email import email_problem

    problem = email_problem(email.strip())
    if problem is not None:
        raise click.BadParameter(
            f"{email!r} is not one usable email address: {problem}", param_hint="'--email'"
        )
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
    """List the users (email, username, user id, ``totp`` when they have a second factor; never hashes)."""
    target = _target(config_file, storage_url)

    async def listing(storage: Storage, _target: Target) -> tuple[list[Password], set[str]]:
        return await storage.list(Password), {f.id for f in await storage.list(SecondFactor)}

    users, with_totp = _run(target, listing)
    static = _static_ids(target, "user")
    for u in users:
        origin = " (config file)" if u.id in static else ""
        totp = "totp" if u.id in with_totp else "-"
        click.echo(f"{u.email}\t{u.username}\t{u.user_id}\t{totp}{origin}")


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
        with contextlib.suppress(NotFound):
            await storage.delete(SecondFactor, email.strip().lower())

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
    """Clear the failed-login lockout of LOGIN (a user name or email; for an LDAP user, the entry's DN)
    and/or an --ip."""
    if not login and not address:
        raise click.UsageError("give a LOGIN, an --ip ADDRESS, or both")
    from idgate.provider.throttle import unlock

    async def clear(storage: Storage, _target: Target) -> list[str]:
        return await unlock(storage, username=login, address=address)

    cleared = _run(_target(config_file, storage_url), clear)
    what = " and ".join(x for x in (login and f"user {login}", address and f"address {address}") if x)
    click.echo(f"unlocked {what}" if cleared else f"{what}: nothing was locked")


# -- TOTP second factor -------------------------------------------------------------------------


@user.group("totp")
def user_totp() -> None:
    """A TOTP second factor for a local user: the 6-digit codes of an authenticator app."""


def _no_user(email: str, target: Target) -> click.ClickException:
    hint = "" if target.provider is not None else " (a user of dex.staticPasswords needs --config FILE)"
    return click.ClickException(f"no user {email!r}{hint}")


def _show_codes(codes: Sequence[str]) -> None:
    click.echo(
        "recovery codes (each works once in place of a code; keep them safe, they are not shown again):"
    )
    for code in codes:
        click.echo(f"  {code}")


@user_totp.command("enroll")
@_storage_options
@click.argument("email")
@click.option("--code", help="The code the app shows now, to confirm (prompted when not given).")
@click.option("--secret", help="Enrol this base32 secret (one already in an app) instead of a new one.")
@click.option("--issuer", help="The name the app shows (default: the provider's display name, or idgate).")
def totp_enroll(  # noqa: PLR0917 - one parameter per option
    config_file: str | None,
    storage_url: str | None,
    email: str,
    code: str | None,
    secret: str | None,
    issuer: str | None,
) -> None:
    """Turn on a TOTP second factor for EMAIL: print the otpauth:// URI, the secret and 10 recovery codes
    once, then save it only when a current code from the app confirms it."""
    from idgate.clock import SystemClock
    from idgate.provider import second_factor, totp

    target = _target(config_file, storage_url)
    key = email.strip().lower()

    async def check(storage: Storage, _target: Target) -> Password:
        try:
            user = await storage.get(Password, key)
        except NotFound:
            raise _no_user(email, target) from None
        try:
            await storage.get(SecondFactor, key)
        except NotFound:
            return user
        raise click.ClickException(
            f"{email!r} has a second factor already; `idgate user totp disable` it first"
        )

    user = _run(target, check)
    if secret is not None:
        try:
            totp.secret_bytes(secret)
        except ValueError as exc:
            raise click.UsageError(f"--secret: {exc}") from None
        secret = "".join(secret.split()).upper().rstrip("=")
    else:
        secret = totp.new_secret()
    codes = totp.new_recovery_codes()
    name = issuer or (target.provider.display_name if target.provider is not None else "idgate")
    click.echo(f"otpauth URI: {totp.provisioning_uri(secret, account=user.email, issuer=name)}")
    click.echo(f"secret: {secret}")
    _show_codes(codes)
    if code is None:
        code = click.prompt("Enter the code the app shows now, to confirm", err=True)
    try:
        record = second_factor.enrollment(key, secret, codes, code, SystemClock().now())
    except ValueError:
        raise click.ClickException("that code is not the current one: nothing was saved") from None

    async def save(storage: Storage, _target: Target) -> None:
        try:
            await storage.create(record)
        except AlreadyExists:
            raise click.ClickException(f"{email!r} has a second factor already") from None

    _run(target, save)
    click.echo(f"TOTP second factor on for {user.email}")


@user_totp.command("disable")
@_storage_options
@click.argument("email")
def totp_disable(config_file: str | None, storage_url: str | None, email: str) -> None:
    """Turn off EMAIL's second factor: the password alone signs in again."""

    async def disable(storage: Storage, _target: Target) -> None:
        try:
            await storage.delete(SecondFactor, email.strip().lower())
        except NotFound:
            raise click.ClickException(f"{email!r} has no TOTP second factor") from None

    _run(_target(config_file, storage_url), disable)
    click.echo(f"TOTP second factor off for {email}")


@user_totp.command("recovery-codes")
@_storage_options
@click.argument("email")
def totp_recovery_codes(config_file: str | None, storage_url: str | None, email: str) -> None:
    """Replace EMAIL's recovery codes with 10 new ones (the old ones stop working) and print them."""
    from idgate.provider import second_factor, totp

    codes = totp.new_recovery_codes()
    hashes = second_factor.hashed(codes)

    async def replace(storage: Storage, _target: Target) -> None:
        try:
            await storage.update(
                SecondFactor, email.strip().lower(), lambda f: dataclasses.replace(f, recovery_hashes=hashes)
            )
        except NotFound:
            raise click.ClickException(f"{email!r} has no TOTP second factor") from None

    _run(_target(config_file, storage_url), replace)
    _show_codes(codes)


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

    from idgate.progress import step

    async def rotate(storage: Storage, target: Target) -> str:
        with step("Rotating the signing keys"):
            return (await _ring(storage, target).rotate(force=True)).keys[0].kid

    kid = _run(_target(config_file, storage_url), rotate)
    click.echo(f"rotated: {kid} signs now (running providers pick it up within a minute)")

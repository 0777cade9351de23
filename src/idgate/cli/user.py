"""``idgate user ...``: users of the ``local`` connector in storage (:mod:`.storage`), and their TOTP
second factor.

::

    idgate user add --email E [--username U] [--user-id ID] [--password P]    (prompted when not given)
    idgate user list | delete EMAIL | passwd EMAIL [--password P] | unlock [LOGIN] [--ip ADDRESS]
    idgate user totp enroll EMAIL [--code C] [--secret BASE32] [--issuer NAME]
    idgate user totp disable EMAIL | recovery-codes EMAIL

Users added here log in through the ``local`` connector; those of the config file's
``dex.staticPasswords`` are listed, marked ``(config file)``, and are changed in that file: ``passwd`` on
one prints the bcrypt hash of the new password to put there. Password hashes are never listed; a TOTP
secret and its recovery codes are shown once, at enrolment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Sequence

import bcrypt
import click

from idgate.cli.storage import Target, resolve_target, run, static_ids, storage_options
from idgate.errors import AlreadyExists, NotFound
from idgate.storage.base import Password, SecondFactor, Storage
from idgate.storage.static import ReadOnly

__all__ = ["user"]

BCRYPT_COST = 10


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=BCRYPT_COST)).decode("ascii")


_password_option = click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted when not given."
)


@click.group()
def user() -> None:
    """Users of the local connector (email and bcrypt password)."""


@user.command("add")
@storage_options
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

    run(resolve_target(config_file, storage_url), add)
    click.echo(f"added user {record.email} (user id {record.user_id})")


@user.command("list")
@storage_options
def user_list(config_file: str | None, storage_url: str | None) -> None:
    """List the users: email, username, user id, and "totp" when they have a second factor (never
    password hashes). Users of the config file's dex.staticPasswords are marked (config file)."""
    target = resolve_target(config_file, storage_url)

    async def listing(storage: Storage, _target: Target) -> tuple[list[Password], set[str]]:
        return await storage.list(Password), {f.id for f in await storage.list(SecondFactor)}

    users, with_totp = run(target, listing)
    static = static_ids(target, "user")
    if users:
        click.echo("EMAIL\tUSERNAME\tUSER ID\tTOTP")
    for u in users:
        origin = " (config file)" if u.id in static else ""
        totp = "totp" if u.id in with_totp else "-"
        click.echo(f"{u.email}\t{u.username}\t{u.user_id}\t{totp}{origin}")


@user.command("delete")
@storage_options
@click.argument("email")
def user_delete(config_file: str | None, storage_url: str | None, email: str) -> None:
    """Delete a user; their refresh tokens stop working at their next use."""

    async def delete(storage: Storage, target: Target) -> None:
        try:
            await storage.delete(Password, email.strip().lower())
        except NotFound:
            raise click.ClickException(f"no user {email!r}") from None
        except ReadOnly:
            raise click.ClickException(
                f"{email} is a user of the config file ({_where(config_file, target, email)}): "
                "remove it there"
            ) from None
        with contextlib.suppress(NotFound):
            await storage.delete(SecondFactor, email.strip().lower())

    run(resolve_target(config_file, storage_url), delete)
    click.echo(f"deleted user {email}")


@user.command("passwd")
@storage_options
@click.argument("email")
@_password_option
def user_passwd(config_file: str | None, storage_url: str | None, email: str, password: str) -> None:
    """Set a user's password."""
    if len(password) < 8:
        raise click.UsageError("the password must have at least 8 characters")
    hashed = _hash(password)

    async def passwd(storage: Storage, target: Target) -> None:
        try:
            await storage.update(
                Password, email.strip().lower(), lambda p: dataclasses.replace(p, hash=hashed)
            )
        except NotFound:
            raise _no_user(email, target) from None
        except ReadOnly:
            raise click.ClickException(
                f"{email} is a user of the config file, not of storage: its password hash is "
                f"{_where(config_file, target, email, '.hash')}.\n"
                "To change it, put this bcrypt hash of the password you typed there:\n"
                f"  {hashed}\n"
                "then restart idgate (or upgrade the Helm release)."
            ) from None

    run(resolve_target(config_file, storage_url), passwd)
    click.echo(f"changed the password of {email}")


def _where(config_file: str | None, target: Target, email: str, key: str = "") -> str:
    """Where the config file defines the user ``email``: ``dex.staticPasswords[i]<key> in FILE``."""
    found = [
        i
        for i, p in enumerate(target.provider.static_passwords if target.provider is not None else ())
        if p.email.lower() == email.strip().lower()
    ]
    entry = f"dex.staticPasswords[{found[0]}]{key}" if found else "dex.staticPasswords"
    return entry + (f" in {config_file}" if config_file else "")


@user.command("unlock")
@storage_options
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

    cleared = run(resolve_target(config_file, storage_url), clear)
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
@storage_options
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

    target = resolve_target(config_file, storage_url)
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

    user = run(target, check)
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

    run(target, save)
    click.echo(f"TOTP second factor on for {user.email}")


@user_totp.command("disable")
@storage_options
@click.argument("email")
def totp_disable(config_file: str | None, storage_url: str | None, email: str) -> None:
    """Turn off EMAIL's second factor: the password alone signs in again."""

    async def disable(storage: Storage, _target: Target) -> None:
        try:
            await storage.delete(SecondFactor, email.strip().lower())
        except NotFound:
            raise click.ClickException(f"{email!r} has no TOTP second factor") from None

    run(resolve_target(config_file, storage_url), disable)
    click.echo(f"TOTP second factor off for {email}")


@user_totp.command("recovery-codes")
@storage_options
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

    run(resolve_target(config_file, storage_url), replace)
    _show_codes(codes)

"""``idgate keys list|rotate``: the provider's signing keys in storage (:mod:`.storage`)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from idgate.cli.storage import Target, resolve_target, run, storage_options
from idgate.oidc.keys import KeyRing
from idgate.settings import ProviderSettings
from idgate.storage.base import Storage

__all__ = ["keys"]


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
@storage_options
def keys_list(config_file: str | None, storage_url: str | None) -> None:
    """List the signing keys: kid, algorithm, state, created."""
    from idgate.storage.base import SigningKeys

    async def listing(storage: Storage, target: Target) -> SigningKeys:
        return await _ring(storage, target).stored()

    stored = run(resolve_target(config_file, storage_url), listing)
    click.echo(f"next rotation: {_when(stored.next_rotation)}")
    if stored.keys or stored.next is not None:
        click.echo("KID\tALGORITHM\tSTATE\tCREATED")
    for i, key in enumerate(stored.keys):
        state = "signing" if i == 0 else f"retired, published until {_when(key.retire_at)}"
        click.echo(f"{key.kid}\t{key.alg}\t{state}\t{_when(key.created_at)}")
    if stored.next is not None:
        click.echo(f"{stored.next.kid}\t{stored.next.alg}\tnext\t{_when(stored.next.created_at)}")


@keys.command("rotate")
@storage_options
def keys_rotate(config_file: str | None, storage_url: str | None) -> None:
    """Rotate now: the next key signs, the signer retires (published until its tokens expired)."""

    from idgate.progress import step

    async def rotate(storage: Storage, target: Target) -> str:
        with step("Rotating the signing keys"):
            return (await _ring(storage, target).rotate(force=True)).keys[0].kid

    kid = run(resolve_target(config_file, storage_url), rotate)
    click.echo(f"rotated: {kid} signs now (running providers pick it up within a minute)")

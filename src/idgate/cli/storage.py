"""Where the administration commands (``idgate client|user|keys``) work: the storage named by
``--storage URL`` or by ``--config FILE`` or ``IDGATE_CONFIG`` (``idgate.storage``; the file's
``dex.clients`` and ``dex.staticPasswords`` are laid over it, read-only: listed, never changed here)."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from idgate.cli.options import config_option
from idgate.errors import AlreadyExists, ConfigError, NotFound, StorageError
from idgate.settings import ProviderSettings
from idgate.storage.base import Storage

__all__ = ["Target", "resolve_target", "run", "static_ids", "storage_options"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the commands work: a storage URL, and the provider settings when a config was given."""

    url: str
    pool_size: int = 2
    provider: ProviderSettings | None = None


def resolve_target(config_file: str | None, storage_url: str | None) -> Target:
    """``--storage URL`` as it is, else the storage and provider settings of ``--config FILE``."""
    if storage_url:
        return Target(storage_url)
    if not config_file:
        raise click.UsageError("give --config FILE (the values file; or set IDGATE_CONFIG) or --storage URL")
    from idgate.config import build_settings, load_config
    from idgate.config.report import format_report

    try:
        settings = build_settings(load_config(config_file))
    except ConfigError as exc:
        click.echo(format_report(exc.problems), err=True)
        sys.exit(2)
    return Target(settings.storage, provider=settings.provider)


def run(target: Target, action: Callable[[Storage, Target], Awaitable[T]]) -> T:
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


def storage_options(fn: Callable[..., None]) -> Callable[..., None]:
    fn = click.option("--storage", "storage_url", metavar="URL", help="sqlite:///PATH or postgresql://...")(
        fn
    )
    return config_option("The values file (idgate.storage).")(fn)


def static_ids(target: Target, kind: str) -> set[str]:
    if target.provider is None:
        return set()
    if kind == "client":
        return {c.id for c in target.provider.clients}
    return {p.email.lower() for p in target.provider.static_passwords}

"""The whole values file: ``dex:`` (oauth chart), ``iap:`` (iap chart), ``idgate:``, and the chart's
top-level Gateway API keys.

Either chart section may be absent: a proxy-only file against an external provider is valid, and so is a
provider-only file. YAML paths are formatted by :func:`format_path`: map keys joined with ``.``, list
indexes as ``[i]`` (``dex.clients[2].secret``); a deployments list is keyed ``[i]`` too.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, PrivateAttr

from idgate.config.dex import DexSection
from idgate.config.iap import HttpRoute, IapSection
from idgate.config.server import IdgateSection
from idgate.config.types import Strict
from idgate.errors import Loc, format_path

__all__ = ["Config", "Loc", "format_path"]


class Config(Strict):
    """A validated values file. Build runtime records from it with :func:`idgate.config.build_settings`."""

    dex: DexSection | None = None
    iap: IapSection | None = None
    idgate: IdgateSection = Field(default_factory=IdgateSection)
    migrateGatewayAPI: bool | None = None
    httpRoute: HttpRoute | None = None

    # Normalised location prefix -> location as written (``RedirectURIs``, ``staticPasswordLogins``).
    _written: dict[Loc, Loc] = PrivateAttr(default_factory=dict)

    def remember_spellings(self, written: Mapping[Loc, Loc]) -> None:
        """Record how renamed keys were written, so :meth:`path` can show the user's spelling."""
        self._written.update(written)

    def path(self, *loc: str | int) -> str:
        """The YAML path of a location in this config, spelled as the file spells it."""
        return format_path(written_loc(loc, self._written))


def written_loc(loc: Loc, written: Mapping[Loc, Loc]) -> Loc:
    """Replace the longest renamed prefix of ``loc`` by its written form."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in written:
            return written[loc[:end]] + loc[end:]
    return loc

"""The values file: the Kubermatic ``oauth`` (``dex:``) and ``iap`` (``iap:``) chart values plus ``idgate:``.

The flow::

    YAML text --load_config--> Config (strict pydantic models) --build_settings--> idgate.settings.Settings
                                  |
                                  +--check--> list[Problem]  (cross-section checks: errors and warnings)

:func:`load_config` raises :class:`idgate.errors.ConfigError` carrying every problem at once, each with its
YAML path (``iap.deployments.prometheus.encryption_key``, ``dex.clients[2].secret``). The modules:

- :mod:`.model`, :mod:`.dex`, :mod:`.iap`, :mod:`.options`, :mod:`.server`, :mod:`.types`: the models;
- :mod:`.load` (the steps), :mod:`.overrides` (``--set``), :mod:`.sources` (``$VAR``, ``*_file``),
  :mod:`.kkp` (chart compatibility), :mod:`.translate` (pydantic errors -> problems);
- :mod:`.checks` (cross-section checks), :mod:`.build` (runtime settings), :mod:`.report` (CLI output);
- :mod:`.apart` (``idgate serve``: the settings from a child process, so the server never loads pydantic).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idgate.config.build import build_settings
    from idgate.config.checks import check
    from idgate.config.load import load_config, load_config_text
    from idgate.config.model import Config

__all__ = ["Config", "build_settings", "check", "load_config", "load_config_text"]

#: Loaded on first use, so that ``idgate.config.report`` (and a serving process, which gets its settings
#: from a child, :mod:`.apart`) never loads pydantic (~12 MB of every process).
_LAZY = {
    "Config": "idgate.config.model",
    "build_settings": "idgate.config.build",
    "check": "idgate.config.checks",
    "load_config": "idgate.config.load",
    "load_config_text": "idgate.config.load",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

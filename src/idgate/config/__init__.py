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
- :mod:`.check` (cross-section checks), :mod:`.build` (runtime settings), :mod:`.report` (CLI output).
"""

from idgate.config.build import build_settings
from idgate.config.check import check
from idgate.config.load import load_config, load_config_text
from idgate.config.model import Config

__all__ = ["Config", "build_settings", "check", "load_config", "load_config_text"]

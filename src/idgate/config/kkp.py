"""Compatibility with the Kubermatic charts: what Helm and Dex do to a values file that pydantic does not.

Before validation (:func:`normalise`, on the raw YAML tree):

- **Dex keys are case-insensitive.** Dex reads its YAML through Go's ``encoding/json``, which matches struct
  fields case-insensitively; the chart copies ``clients``, ``connectors``, ``staticPasswords`` and
  ``expiry`` into Dex's config verbatim. So each key of those mappings that equals a known key up to case
  is renamed to the known spelling (``RedirectURIs`` -> ``redirectURIs``); the same key given twice in two
  spellings is an error. Unknown keys are left for the model to report.
- **``staticPasswordLogins``** is the legacy name of ``staticPasswords``; giving both is an error.
- **``iap.deployments``** becomes an ordered map: a map is sorted by key (Go's ``range`` over a map), a list
  is keyed ``[0]``, ``[1]`` ... in order. The key is never a name.
- A section written as an empty key (``dex:`` with nothing under it) is the same as an absent one.

Every rename is recorded (normalised location -> written location) so that error paths show the file's
spelling: a bad value under ``RedirectURIs`` is reported at ``dex.clients[0].RedirectURIs[1]``.

After validation: :func:`required` checks the keys that are required only in some situations, and
:func:`effective_options` merges ``iap.default_configuration`` under a deployment's ``config`` exactly as
the chart does (only into a non-empty ``config``; the deployment's keys win).
"""

from __future__ import annotations

from typing import Any

from idgate.config.dex import Client, Connector, DexSection, Expiry, RefreshTokens, StaticPassword
from idgate.config.iap import Deployment, IapSection
from idgate.config.model import Config, Loc, format_path
from idgate.config.options import ProxyOptions
from idgate.config.types import Strict
from idgate.errors import Problem

__all__ = ["Normalised", "deployments", "effective_options", "normalise", "required"]


class Normalised:
    """The result of :func:`normalise`: the tree to validate, problems, and how renamed keys were written."""

    def __init__(self, tree: dict[str, Any]) -> None:
        self.tree = tree
        self.problems: list[Problem] = []
        self.written: dict[Loc, Loc] = {}


def normalise(tree: dict[str, Any]) -> Normalised:
    """Apply the chart-compatibility rules above to a raw tree (a new tree; the input is not changed)."""
    out = Normalised({k: v for k, v in tree.items() if not (k in ("dex", "iap", "idgate") and v is None)})
    dex = out.tree.get("dex")
    if isinstance(dex, dict):
        out.tree["dex"] = _normalise_dex(dex, out)
    iap = out.tree.get("iap")
    if isinstance(iap, dict) and "deployments" in iap:
        out.tree["iap"] = {**iap, "deployments": _ordered_deployments(iap["deployments"])}
    return out


def _normalise_dex(dex: dict[str, Any], out: Normalised) -> dict[str, Any]:
    dex = dict(dex)
    if "staticPasswordLogins" in dex:
        if "staticPasswords" in dex:
            out.problems.append(
                Problem(
                    "dex.staticPasswordLogins",
                    "give staticPasswords or its legacy name staticPasswordLogins, not both",
                )
            )
            del dex["staticPasswordLogins"]
        else:
            dex["staticPasswords"] = dex.pop("staticPasswordLogins")
            out.written[("dex", "staticPasswords")] = ("dex", "staticPasswordLogins")
    for key, model in (("clients", Client), ("connectors", Connector), ("staticPasswords", StaticPassword)):
        items = dex.get(key)
        if isinstance(items, list):
            written_list = out.written.get(("dex", key), ("dex", key))
            dex[key] = [
                _fold_keys(item, model, ("dex", key, i), (*written_list, i), out)
                for i, item in enumerate(items)
            ]
    expiry = dex.get("expiry")
    if isinstance(expiry, dict):
        expiry = _fold_keys(expiry, Expiry, ("dex", "expiry"), ("dex", "expiry"), out)
        refresh = expiry.get("refreshTokens")
        if isinstance(refresh, dict):
            loc: Loc = ("dex", "expiry", "refreshTokens")
            expiry["refreshTokens"] = _fold_keys(refresh, RefreshTokens, loc, out.written.get(loc, loc), out)
        dex["expiry"] = expiry
    return dex


def _fold_keys(item: Any, model: type[Strict], loc: Loc, written: Loc, out: Normalised) -> Any:
    """Rename keys of ``item`` that match ``model``'s keys up to case; report a key given twice."""
    if not isinstance(item, dict):
        return item
    known = {k.lower(): k for k in model.known_keys()}
    folded: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in item.items():
        name = known.get(str(key).lower(), key) if isinstance(key, str) else key
        if name in folded:
            out.problems.append(
                Problem(
                    format_path((*written, key)),
                    f"'{name}' is given twice (as '{spelled[name]}' "
                    f"and '{key}'); Dex matches these keys ignoring case",
                )
            )
            continue
        folded[name] = value
        spelled[name] = key
        if name != key:
            out.written[(*loc, name)] = (*written, key)
    return folded


def _ordered_deployments(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): value[k] for k in sorted(value, key=str)}
    if isinstance(value, list):
        return {f"[{i}]": item for i, item in enumerate(value)}
    return value


def deployments(iap: IapSection) -> list[tuple[str, Deployment]]:
    """``(key, deployment)`` pairs in the chart's order (sorted map keys, or list order)."""
    return list(iap.deployments.items())


def effective_options(iap: IapSection, deployment: Deployment) -> ProxyOptions:
    """The deployment's ``config`` with ``iap.default_configuration`` merged under it.

    As the chart does: an empty (or missing) ``config`` gets nothing from ``default_configuration``;
    otherwise every key of ``default_configuration`` that the deployment does not set is added.
    """
    own = deployment.config
    if not own.model_fields_set:
        return own
    update = {name: getattr(own, name) for name in own.model_fields_set}
    return iap.default_configuration.model_copy(update=update)


def required(config: Config) -> list[Problem]:
    """Keys required only in some situations (kkp-values.md §6, "Required keys")."""
    problems: list[Problem] = []
    dex: DexSection | None = config.dex
    if dex is not None and not dex.ingress.host and (dex.clients or dex.staticPasswords or dex.connectors):
        problems.append(
            Problem(
                config.path("dex", "ingress", "host"),
                "required when dex has clients, staticPasswords or connectors (it makes the issuer URL)",
            )
        )
    iap = config.iap
    if iap is not None and iap.deployments and not iap.oidc_issuer_url:
        problems.append(
            Problem(
                config.path("iap", "oidc_issuer_url"),
                "required when iap has deployments (the provider's issuer URL, e.g. https://kkp.example.com/dex)",
            )
        )
    return problems

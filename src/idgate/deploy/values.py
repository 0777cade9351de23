"""The values file a pod reads: the part of the user's file its role needs, with secrets moved out.

``idgate render kubernetes`` writes, per workload, a ConfigMap holding ``values.yaml`` and a Secret holding
environment variables. The pod mounts the first and loads the second with ``envFrom``; ``idgate serve
--config`` then expands the ``${VAR}`` references (:mod:`idgate.config.sources`), so the pod runs exactly
the settings the file describes (``tests/unit/deploy`` checks this round trip). The rules:

- the document is dumped from the validated model: only keys the user wrote, no chart-only keys (image,
  resources, affinity, certIssuer ...), durations back as Go durations;
- every secret value (``secret``, ``client_secret``, ``encryption_key``, ``clientSecret``, ``bindPW``,
  ``hash`` at any depth, the deployment's ``client_id`` as the chart does, and the storage and session URLs,
  which may carry passwords) becomes ``${VAR}`` and goes into the Secret;
- a ``$`` in any other string is written ``$$`` so that expansion gives it back unchanged.

Secret variable names: a proxy uses the chart's own (``OAUTH2_PROXY_CLIENT_ID``,
``OAUTH2_PROXY_CLIENT_SECRET``, ``OAUTH2_PROXY_COOKIE_SECRET``), so a chart Secret (``existingSecret``)
fits; the rest are ``IDGATE_`` and the YAML path in capitals (``IDGATE_DEX_CLIENTS_2_SECRET``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from idgate.config.iap import Deployment, IapSection
from idgate.config.model import Config
from idgate.config.sources import SECRET_KEYS

__all__ = ["PodValues", "provider_values", "proxy_values"]

PROXY_SECRET_VARS = {
    "client_id": "OAUTH2_PROXY_CLIENT_ID",
    "client_secret": "OAUTH2_PROXY_CLIENT_SECRET",
    "encryption_key": "OAUTH2_PROXY_COOKIE_SECRET",
}
STORAGE_VAR = "IDGATE_STORAGE"
SESSIONS_VAR = "IDGATE_SESSIONS"
DEX_KEYS = {"ingress", "expiry", "frontend", "connectors", "clients", "staticPasswords"}
DEPLOYMENT_KEYS = {
    "name",
    "client_id",
    "client_secret",
    "encryption_key",
    "upstream_service",
    "upstream_port",
}


@dataclass
class PodValues:
    """A pod's values document (secrets replaced by ``${VAR}``) and the variables its Secret holds."""

    document: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)

    def hide(self, value: str, var: str) -> str:
        """Record ``value`` as the secret variable ``var``; the reference that replaces it."""
        self.env[var] = value
        return "${" + var + "}"


def _escape(node: Any) -> Any:
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, dict):
        return {k: _escape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_escape(v) for v in node]
    return node


def _var(path: tuple[str | int, ...]) -> str:
    return "IDGATE_" + "_".join(re.sub(r"[^A-Za-z0-9]+", "_", str(p)).strip("_").upper() for p in path)


def _hide_secrets(node: Any, path: tuple[str | int, ...], out: PodValues) -> Any:
    """``node`` escaped, with every value under a secret key replaced by a ``${VAR}`` reference."""
    if isinstance(node, dict):
        return {
            k: out.hide(v, _var((*path, k)))
            if k in SECRET_KEYS and isinstance(v, str)
            else _hide_secrets(v, (*path, k), out)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hide_secrets(v, (*path, i), out) for i, v in enumerate(node)]
    return _escape(node)


def _listeners(listen: str, health: str) -> dict[str, Any]:
    return {"listen": _escape(listen), "health_listen": _escape(health)}


def provider_values(config: Config, *, listen: str, health: str, storage: str) -> PodValues:
    """The provider pod's document: ``dex`` (what the provider reads) and ``idgate`` (where it listens,
    its storage URL from the Secret)."""
    assert config.dex is not None
    out = PodValues({})
    dex = config.dex.model_dump(mode="json", by_alias=True, exclude_unset=True, include=DEX_KEYS)
    ingress = dex.get("ingress", {})
    dex["ingress"] = {k: v for k, v in ingress.items() if k in ("host", "path", "scheme")}
    section = _listeners(listen, health)
    section["storage"] = out.hide(storage, STORAGE_VAR)
    out.document = {"dex": _hide_secrets(dex, ("dex",), out), "idgate": section}
    return out


def proxy_values(
    iap: IapSection, deployment: Deployment, *, listen: str, health: str, sessions: str
) -> PodValues:
    """One proxy deployment's document: ``iap`` with only this deployment, keyed by its name."""
    out = PodValues({})
    top = iap.model_dump(
        mode="json", by_alias=True, exclude_unset=True, include={"oidc_issuer_url", "default_configuration"}
    )
    entry = deployment.model_dump(mode="json", by_alias=True, exclude_unset=True, include=DEPLOYMENT_KEYS)
    entry = _escape(entry)
    for key, var in PROXY_SECRET_VARS.items():
        entry[key] = out.hide(getattr(deployment, key), var)
    entry["ingress"] = _escape({"host": deployment.ingress.host})
    if "config" in deployment.model_fields_set:
        entry["config"] = _escape(deployment.config.model_dump(mode="json", exclude_unset=True))
    section = _listeners(listen, health)
    section["sessions"] = out.hide(sessions, SESSIONS_VAR) if sessions != "cookie" else "cookie"
    out.document = {"iap": {**_escape(top), "deployments": {deployment.name: entry}}, "idgate": section}
    return out

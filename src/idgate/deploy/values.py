"""The values file a pod reads: the part of the user's file its role needs, with secrets moved out.

``idgate render kubernetes`` writes, per workload, a ConfigMap holding ``values.yaml`` and a Secret holding
environment variables. The pod mounts the first and loads the second with ``envFrom``; ``idgate serve
--config`` then expands the ``${VAR}`` references (:mod:`idgate.config.sources`), so the pod runs exactly
the settings the file describes (``tests/unit/deploy`` checks this round trip). The rules:

- the document is dumped from the validated model: only keys the user wrote, without the keys only the
  charts' templates read (image, resources, affinity, certIssuer ...), durations back as Go durations;
- every secret value (``secret``, ``client_secret``, ``encryption_key``, ``clientSecret``, ``bindPW``,
  ``hash``, ``previous_encryption_keys`` at any depth, the deployment's ``client_id`` as the chart does,
  and the storage and session URLs, ``redis_connection_url`` too, which may carry passwords) becomes
  ``${VAR}`` and goes to the Secret;
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
from idgate.config.kkp import effective_options
from idgate.config.model import Config
from idgate.config.options import session_store
from idgate.config.sources import SECRET_KEYS

__all__ = ["PodValues", "provider_values", "proxy_values"]

PROXY_SECRET_VARS = {
    "client_id": "OAUTH2_PROXY_CLIENT_ID",
    "client_secret": "OAUTH2_PROXY_CLIENT_SECRET",
    "encryption_key": "OAUTH2_PROXY_COOKIE_SECRET",
}
STORAGE_VAR = "IDGATE_STORAGE"
SESSIONS_VAR = "IDGATE_SESSIONS"
# Values under these keys (a string, or each string of a list) go to the Secret.
# ``redis_connection_url`` (a deployment's ``config`` or ``iap.default_configuration``) may carry a password.
HIDDEN_KEYS = frozenset((*SECRET_KEYS, "previous_encryption_keys", "redis_connection_url"))
# Keys only the charts' templates read (rendered into the objects, not into the pod's values file). Keys
# are left out by name so that any key idgate's runtime reads reaches the pod, also ones added later.
DEX_CHART_ONLY = {
    "image", "imagePullSecrets", "replicas", "env", "resources", "nodeSelector", "affinity", "tolerations",
    "extraVolumes", "extraVolumeMounts", "certIssuer", "nameOverride", "grpc",
}  # fmt: skip
IAP_CHART_ONLY = {
    "image", "imagePullSecrets", "discovery_url", "port", "replicas", "certIssuer",
    "custom_provider_ca_secret", "resources", "affinity", "nodeSelector", "tolerations", "extraArgs",
    "deployments",
}  # fmt: skip
DEPLOYMENT_CHART_ONLY = {"replicas", "existingSecret", "extraArgs", "passthrough", "ingress", "config"}
IDGATE_RENDER_ONLY = {"listen", "health_listen", "storage", "sessions", "data_dir", "workers", "kubernetes"}


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
        return {k: _hide_value(k, v, (*path, k), out) for k, v in node.items()}
    if isinstance(node, list):
        return [_hide_secrets(v, (*path, i), out) for i, v in enumerate(node)]
    return _escape(node)


def _hide_value(key: str, value: Any, path: tuple[str | int, ...], out: PodValues) -> Any:
    if key in HIDDEN_KEYS and isinstance(value, str):
        return out.hide(value, _var(path))
    if key in HIDDEN_KEYS and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [out.hide(v, _var((*path, i))) for i, v in enumerate(value)]
    return _hide_secrets(value, path, out)


def _idgate_section(config: Config, listen: str, health: str) -> dict[str, Any]:
    """The user's ``idgate`` keys that the runtime reads, with the pod's listeners."""
    section = config.idgate.model_dump(
        mode="json", by_alias=True, exclude_unset=True, exclude=IDGATE_RENDER_ONLY
    )
    return {"listen": listen, "health_listen": health, **_escape(section)}


def provider_values(config: Config, *, listen: str, health: str, storage: str) -> PodValues:
    """The provider pod's document: ``dex`` (what the provider reads) and ``idgate`` (its listeners and
    settings; the storage URL from the Secret)."""
    assert config.dex is not None
    out = PodValues({})
    dex = config.dex.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude=DEX_CHART_ONLY)
    ingress = dex.get("ingress", {})
    dex["ingress"] = {k: v for k, v in ingress.items() if k in ("host", "path", "scheme")}
    section = _idgate_section(config, listen, health)
    section["storage"] = out.hide(storage, STORAGE_VAR)
    out.document = {"dex": _hide_secrets(dex, ("dex",), out), "idgate": section}
    return out


def proxy_values(config: Config, iap: IapSection, dep: Deployment, *, listen: str, health: str) -> PodValues:
    """One proxy deployment's document: ``iap`` with only this deployment, keyed by its name; the
    provider CA (``customProviderCA``) at the chart's mount path. A deployment with cookie sessions gets
    ``idgate.storage`` when it is PostgreSQL: its replicas share the list of signed-out sessions there
    (:mod:`idgate.sessions.revocations`; on SQLite each pod would keep its own, see
    :func:`idgate.deploy.rules.unshared_revocations`)."""
    out = PodValues({})
    top = iap.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude=IAP_CHART_ONLY)
    if "customProviderCA" in top:
        top["customProviderCA"].pop("file", None)  # in the pod: the Secret mounted where the chart puts it
    entry: dict[str, Any] = {}
    written = dep.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude=DEPLOYMENT_CHART_ONLY)
    for key, value in written.items():
        if key in PROXY_SECRET_VARS:
            entry[key] = out.hide(value, PROXY_SECRET_VARS[key])
        else:
            entry[key] = _hide_value(key, value, ("iap", dep.name, key), out)
    entry["ingress"] = _escape({"host": dep.ingress.host})
    if "config" in dep.model_fields_set:
        config_keys = dep.config.model_dump(mode="json", by_alias=True, exclude_unset=True)
        entry["config"] = _hide_secrets(config_keys, ("iap", dep.name, "config"), out)
    section = _idgate_section(config, listen, health)
    sessions = config.idgate.sessions
    section["sessions"] = out.hide(sessions, SESSIONS_VAR) if sessions != "cookie" else "cookie"
    storage = config.idgate.storage or ""
    cookies = session_store(effective_options(iap, dep), sessions) == "cookie"
    if cookies and storage.split(":", 1)[0].split("+", 1)[0].lower() in ("postgresql", "postgres"):
        section["storage"] = out.hide(storage, STORAGE_VAR)  # the revocation list the replicas share
    iap_doc = {**_hide_secrets(top, ("iap",), out), "deployments": {dep.name: entry}}
    out.document = {"iap": iap_doc, "idgate": section}
    return out

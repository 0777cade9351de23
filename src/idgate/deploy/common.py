"""Pieces every rendered workload shares: options, labels, the container, security contexts, probes,
checksums, YAML.

Kubernetes objects are plain ``dict``s (what ``yaml.safe_dump`` and the schema validator take); each
builder returns one object and never mutates its inputs.

**Applied over the charts' objects.** ``kubectl apply`` on a Deployment that Helm made (it has no
``last-applied-configuration``) is a strategic merge of the rendered object into the live one: lists of
containers, volumes, mounts, ports and env merge by name (or path, or port), maps merge key by key, and
nothing the file leaves out is removed. So the rendered Deployments keep the charts' names, selectors and
container names (``dex``, ``oauth2-proxy``), and :func:`container` sets every field the charts' containers
set, ``command`` included (the Dex chart runs ``dex serve``), the container's own ``runAsUser`` (the iap
chart's is 2000) and the config volume's ``items``: the merged pod runs idgate alone, as rendered. What a
merge cannot remove (the chart's extra volumes, mounts and env, and old ConfigMap keys) is harmless to
idgate but keeps the chart's objects in use; ``docs/migration.md`` therefore replaces the Deployments and
ConfigMaps (``kubectl replace``). ``tests/unit/deploy/test_over_helm.py`` shows both with real kubectl.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from idgate import __version__

__all__ = [
    "CONFIG_DIR",
    "DATA_DIR",
    "DEFAULT_IMAGE",
    "HEALTH_PORT",
    "Obj",
    "RenderOptions",
    "checksum",
    "container",
    "container_security_context",
    "dump_all",
    "meta",
    "pdb",
    "pod_security_context",
    "secret",
    "soft_anti_affinity",
]

Obj = dict[str, Any]

# What `make image` builds and tags (deploy/image/spec.py): `localhost/` names no registry, so a node that
# lacks the image fails to pull it instead of asking Docker Hub. Push it elsewhere and pass --image.
DEFAULT_IMAGE = f"localhost/idgate:{__version__}"
CONFIG_DIR = "/etc/idgate"  # the ConfigMap's mount: CONFIG_DIR/values.yaml is what --config reads
VALUES_KEY = "values.yaml"
DATA_DIR = "/var/lib/idgate"  # the provider's SQLite file, on an emptyDir or a PersistentVolumeClaim
HEALTH_PORT = 8081  # idgate.health_listen in the pod: /healthz/live, /healthz/ready, /metrics
RUN_AS = 65532  # the image's non-root user (deploy/image/spec.py)
MANAGED = {"app.kubernetes.io/name": "idgate", "app.kubernetes.io/managed-by": "idgate-render"}


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """What ``idgate render kubernetes`` takes besides the values file."""

    namespace_provider: str = "oauth"
    namespace_proxy: str = "iap"
    image: str | None = None  # None: idgate.kubernetes.image, else DEFAULT_IMAGE
    certificates: bool = False  # cert-manager Certificate objects instead of Ingress annotations


def meta(name: str, namespace: str, labels: Mapping[str, str], **extra: Any) -> Obj:
    """``metadata`` with idgate's informational labels added to the chart's ``labels``."""
    out: Obj = {"name": name, "namespace": namespace, "labels": {**labels, **MANAGED}}
    out.update({k: v for k, v in extra.items() if v})
    return out


def secret(name: str, namespace: str, labels: Mapping[str, str], data: Mapping[str, str]) -> Obj:
    """An Opaque Secret with ``data`` base64-encoded (as the charts write theirs)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, namespace, labels),
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(data.items())},
    }


def configmap(name: str, namespace: str, labels: Mapping[str, str], values_yaml: str) -> Obj:
    """The ConfigMap whose ``values.yaml`` the pod reads with ``idgate serve --config``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(name, namespace, labels),
        "data": {VALUES_KEY: values_yaml},
    }


def checksum(obj: Obj) -> str:
    """SHA-256 of an object's ``data`` (pod annotation: a change restarts exactly the pods that use it)."""
    canonical = json.dumps(obj.get("data", {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def pdb(name: str, namespace: str, labels: Mapping[str, str], selector: Mapping[str, str]) -> Obj:
    """``maxUnavailable: 1``, as both charts."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, namespace, labels),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(selector)}},
    }


def pod_security_context() -> Obj:
    """Non-root with a fixed uid/gid, volumes group-owned by it, the runtime's default seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Obj:
    """Read-only root filesystem (``/tmp`` is an emptyDir), no privilege escalation, no capabilities; the
    image's user here too, so that a chart's container-level ``runAsUser`` cannot survive a merge."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def soft_anti_affinity(labels: Mapping[str, str]) -> Obj:
    """The charts' default: prefer spreading replicas over nodes (weight 10, by hostname)."""
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 10,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": dict(labels)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def probes(live_path: str, host: str) -> Obj:
    """Liveness through the edge on the public port (with the ``Host`` it routes by); readiness on the
    health port, where the role's dependencies are checked (:mod:`idgate.runtime.health`)."""
    return {
        "livenessProbe": {
            "httpGet": {"path": live_path, "port": "http", "httpHeaders": [{"name": "Host", "value": host}]},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/healthz/ready", "port": "health"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 2,
        },
    }


def base_volumes(configmap_name: str) -> tuple[list[Obj], list[Obj]]:
    """(volumes, mounts): the config read-only at :data:`CONFIG_DIR`, and a writable ``/tmp`` (the
    private unix sockets between the edge and the web apps live there)."""
    # items: a chart's own list (config.yaml, config.toml) must not survive a merge into its volume
    items = [{"key": VALUES_KEY, "path": VALUES_KEY}]
    volumes: list[Obj] = [
        {"name": "config", "configMap": {"name": configmap_name, "items": items}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
    ]
    mounts: list[Obj] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir of the pod
    ]
    return volumes, mounts


def container(
    name: str,
    image: str,
    pull_policy: str,
    role_args: list[str],
    *,
    env_from: list[Obj],
    port: int,
    probes: Obj,
    resources: Obj,
    mounts: list[Obj],
) -> Obj:
    """The idgate container, named like the chart's (``name``): ``idgate serve --config <the ConfigMap>``
    with ``role_args``, the public port ``http`` and the health port ``health``."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["idgate"],
        "args": ["serve", "--config", f"{CONFIG_DIR}/{VALUES_KEY}", *role_args],
        "envFrom": env_from,
        "ports": [
            {"name": "http", "containerPort": port, "protocol": "TCP"},
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
        ],
        **probes,
        "resources": resources,
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }


def or_default(value: Mapping[str, Any] | None, default: Obj) -> Obj:
    """A chart value if the file sets it, else the chart's default (deep copies: objects never share)."""
    return copy.deepcopy(dict(value) if value else default)


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings (the values file inside a ConfigMap) as ``|`` literals."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(obj: Any) -> str:
    """One YAML document, keys in insertion order."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


def dump_all(objects: list[Obj]) -> str:
    """Multi-document YAML (``---`` between documents)."""
    return "".join(f"---\n{dump(o)}" for o in objects)

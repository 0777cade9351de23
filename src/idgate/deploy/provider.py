"""The provider's objects, in the ``oauth`` chart's names (kkp-values.md §1.3), running idgate.

=====================  ============  ===========================================================
kind                   name          notes
=====================  ============  ===========================================================
ServiceAccount         ``dex``       no API token mounted: state is in PostgreSQL, not in CRDs
Secret                 ``dex-secret`` client secrets, connector secrets, password hashes, storage URL
ConfigMap              ``dex``       ``values.yaml``: the ``dex`` section and ``idgate`` listeners
PersistentVolumeClaim  ``dex-data``  with ``idgate.kubernetes.persistence.enabled`` and SQLite
Deployment             ``dex``       selector ``app: dex`` (as the chart's, so it updates in place);
                                     container ``dex``: ``idgate serve --role provider``
Service                ``dex``       port 5556 (``http``, target port by number), as the chart's
Ingress                ``dex``       unless ``ingress.class: non-existent``; TLS ``dex-tls`` when https
Certificate            ``dex``       with ``--certificates`` instead of the cert-manager annotation
PodDisruptionBudget    ``dex``       ``maxUnavailable: 1``
=====================  ============  ===========================================================

No ClusterRole or RoleBinding: Dex needed them for its ``kubernetes`` storage; idgate keeps state in
``idgate.storage``. SQLite cannot be shared by replicas (:mod:`.rules` refuses it with ``dex.replicas > 1``);
with one replica the database lives at ``/var/lib/idgate`` in an emptyDir (lost, keys rotated, when the pod
goes: the render warns) or, with ``persistence``, on the claim ``dex-data`` (``strategy: Recreate``).

The container is named ``dex`` like the chart's, and sets every field the chart's container sets, so that
``kubectl apply`` over the chart's Deployment replaces Dex's container instead of adding one beside it
(:mod:`.common`, "Applied over the charts' objects").
"""

from __future__ import annotations

from typing import Any

from idgate.config.dex import DexSection
from idgate.config.model import Config
from idgate.config.server import Persistence
from idgate.deploy.common import (
    DATA_DIR,
    HEALTH_PORT,
    Obj,
    base_volumes,
    checksum,
    configmap,
    container,
    dump,
    meta,
    or_default,
    pdb,
    pod_security_context,
    probes,
    secret,
    soft_anti_affinity,
)
from idgate.deploy.rules import sqlite_in_pod
from idgate.deploy.sizes import MEASURED
from idgate.deploy.values import provider_values

__all__ = ["CONTAINER", "DEX_PORT", "DEX_RESOURCES", "provider_objects"]

NAME = "dex"
CONTAINER = "dex"  # the chart's container name: `kubectl apply` merges containers by name
DEX_PORT = 5556
SELECTOR = {"app": NAME}
DEX_RESOURCES: Obj = MEASURED["dex"].rendered
SQLITE_IN_POD = f"sqlite:///{DATA_DIR}/idgate.db"
CLAIM = f"{NAME}-data"


def _storage(config: Config) -> str:
    written = config.idgate.storage
    if written is None or sqlite_in_pod(config):
        return SQLITE_IN_POD  # the user's path is on their machine; in the pod the data volume holds it
    return written


def claim(namespace: str, labels: Obj, persistence: Persistence) -> Obj:
    """The provider's PersistentVolumeClaim (ReadWriteOnce: one pod at a time writes the SQLite file)."""
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": persistence.size}}}
    if persistence.storageClassName is not None:
        spec["storageClassName"] = persistence.storageClassName
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(CLAIM, namespace, labels),
        "spec": spec,
    }


def _cert_issuer_annotation(kind: str, name: str) -> dict[str, str]:
    key = "cert-manager.io/cluster-issuer" if kind == "ClusterIssuer" else "cert-manager.io/issuer"
    return {key: name}


def certificate(name: str, namespace: str, labels: Obj, *, secret_name: str, host: str, issuer: Any) -> Obj:
    """A cert-manager ``Certificate`` (a CRD: validated by cert-manager, not by the Kubernetes schemas)."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": meta(name, namespace, labels),
        "spec": {
            "secretName": secret_name,
            "dnsNames": [host.split(":", 1)[0]],
            "issuerRef": {"name": issuer.name, "kind": issuer.kind, "group": "cert-manager.io"},
        },
    }


def ingress(
    name: str,
    namespace: str,
    labels: Obj,
    *,
    host: str,
    path: str,
    service: str,
    port: int,
    class_name: str,
    annotations: dict[str, str],
    tls_secret: str | None,
) -> Obj:
    """One rule ``host`` + ``path`` (Prefix) -> ``service:port``; TLS for ``[host]`` when ``tls_secret``."""
    bare = host.split(":", 1)[0]
    spec: Obj = {"ingressClassName": class_name}
    if tls_secret:
        spec["tls"] = [{"secretName": tls_secret, "hosts": [bare]}]
    spec["rules"] = [
        {
            "host": bare,
            "http": {
                "paths": [
                    {
                        "path": path,
                        "pathType": "Prefix",
                        "backend": {"service": {"name": service, "port": {"number": port}}},
                    }
                ]
            },
        }
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(name, namespace, labels, annotations=annotations),
        "spec": spec,
    }


def provider_objects(config: Config, namespace: str, image: str, certificates: bool) -> list[Obj]:
    """Every object of the provider, in the order ``kubectl apply`` wants them."""
    dex = config.dex
    assert dex is not None and dex.ingress.host  # the caller renders the provider only then
    storage = _storage(config)
    persistent = storage == SQLITE_IN_POD and config.idgate.kubernetes.persistence.enabled
    pod = provider_values(
        config, listen=f"0.0.0.0:{DEX_PORT}", health=f"0.0.0.0:{HEALTH_PORT}", storage=storage
    )
    labels = dict(SELECTOR)
    sec = secret(f"{NAME}-secret", namespace, labels, pod.env)
    cm = configmap(NAME, namespace, labels, dump(pod.document))
    objects: list[Obj] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta(NAME, namespace, labels),
            "automountServiceAccountToken": False,
        },
        sec,
        cm,
        *([claim(namespace, labels, config.idgate.kubernetes.persistence)] if persistent else []),
        _deployment(
            dex,
            namespace,
            image=image,
            data={"persistentVolumeClaim": {"claimName": CLAIM}} if persistent else {"emptyDir": {}},
            sqlite=storage == SQLITE_IN_POD,
            sums=(checksum(cm), checksum(sec)),
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(NAME, namespace, labels),
            "spec": {
                "type": "ClusterIP",
                "selector": dict(SELECTOR),
                # by number: the chart's Dex pods name this port `https`, and they serve until replaced
                "ports": [{"name": "http", "port": DEX_PORT, "targetPort": DEX_PORT, "protocol": "TCP"}],
            },
        },
    ]
    objects += _ingress_objects(dex, namespace, labels, certificates)
    objects.append(pdb(NAME, namespace, labels, SELECTOR))
    return objects


def _ingress_objects(dex: DexSection, namespace: str, labels: Obj, certificates: bool) -> list[Obj]:
    if dex.ingress.class_ == "non-existent":
        return []
    https = dex.ingress.scheme == "https"
    issuer = dex.certIssuer if dex.certIssuer is not None and dex.certIssuer.name else None
    annotations: dict[str, str] = {}
    if issuer is not None and https and not certificates:
        annotations.update(_cert_issuer_annotation(issuer.kind, issuer.name))
    annotations.update({str(k): str(v) for k, v in dex.ingress.annotations.items()})
    out = [
        ingress(
            NAME,
            namespace,
            labels,
            host=dex.ingress.host,
            path=dex.ingress.path or "/",
            service=NAME,
            port=DEX_PORT,
            class_name=dex.ingress.class_,
            annotations=annotations,
            tls_secret=f"{NAME}-tls" if https else None,
        )
    ]
    if certificates and issuer is not None and https:
        out.append(
            certificate(
                NAME, namespace, labels, secret_name=f"{NAME}-tls", host=dex.ingress.host, issuer=issuer
            )
        )
    return out


def _deployment(
    dex: DexSection, namespace: str, *, image: str, data: Obj, sqlite: bool, sums: tuple[str, str]
) -> Obj:
    volumes, mounts = base_volumes(NAME)
    if sqlite:
        volumes.append({"name": "data", **data})
        mounts.append({"name": "data", "mountPath": DATA_DIR})
    main = container(
        CONTAINER,
        image,
        dex.image.pullPolicy if dex.image and dex.image.pullPolicy else "IfNotPresent",
        ["--role", "provider"],
        env_from=[{"secretRef": {"name": f"{NAME}-secret"}}],
        port=DEX_PORT,
        probes=probes(f"{dex.ingress.path.rstrip('/')}/healthz", dex.ingress.host),
        resources=or_default(dex.resources, DEX_RESOURCES),
        mounts=mounts + list(dex.extraVolumeMounts),
    )
    if dex.env:
        main["env"] = list(dex.env)
    spec: Obj = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [main],
        "volumes": volumes + list(dex.extraVolumes),
        "affinity": or_default(dex.affinity, soft_anti_affinity(SELECTOR)),
    }
    for key in ("imagePullSecrets", "nodeSelector", "tolerations"):
        if getattr(dex, key):
            spec[key] = getattr(dex, key)
    deployment_spec: Obj = {"replicas": dex.replicas, "selector": {"matchLabels": dict(SELECTOR)}}
    if "persistentVolumeClaim" in data and sqlite:  # the old pod lets go of the volume before the new starts
        # rollingUpdate: null removes the chart's (a merge keeps it; the API refuses it beside Recreate)
        deployment_spec["strategy"] = {"type": "Recreate", "rollingUpdate": None}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(NAME, namespace, SELECTOR),
        "spec": {
            **deployment_spec,
            "template": {
                "metadata": {
                    "labels": {
                        **SELECTOR,
                        "app.kubernetes.io/name": "idgate",
                        "app.kubernetes.io/component": "provider",
                    },
                    "annotations": {
                        "checksum/config": sums[0],
                        "checksum/secrets": sums[1],
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(HEALTH_PORT),
                    },
                },
                "spec": spec,
            },
        },
    }

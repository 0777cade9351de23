"""Each proxy deployment's objects, in the ``iap`` chart's names (kkp-values.md §2.4), running idgate.

For ``iap.deployments.*`` entry with ``name: N`` (the map key is never a name):

====================  =====================  =========================================================
kind                  name                   notes
====================  =====================  =========================================================
Secret                ``iap-N-secret``       ``OAUTH2_PROXY_CLIENT_ID/_CLIENT_SECRET/_COOKIE_SECRET`` (the
                                             chart's keys), ``IDGATE_SESSIONS`` with Redis; not rendered
                                             with ``existingSecret`` unless idgate needs a variable of its own
ConfigMap             ``iap-N-configmap``    ``values.yaml``: ``iap`` with this deployment only
Deployment            ``iap-N``              selector ``app: iap, target: N``; container ``oauth2-proxy``:
                                             ``idgate serve --role proxy --deployment N`` on ``iap.port``
Service               ``N-iap``              labels ``app: iap, target: N, kind: proxy``
Ingress               ``N-iap``              TLS ``N-tls`` (or ``ingress.tlsSecretName``, which also drops the
                                             cert-manager annotation); path ``/`` (Prefix)
Certificate           ``N``                  with ``--certificates`` (2.14-2.16 semantics)
PodDisruptionBudget   ``iap-N``              ``maxUnavailable: 1``
NetworkPolicy         ``iap-N-upstream``     opt-in (``idgate.kubernetes.networkPolicy``), in the upstream's
                                             namespace: only this deployment's proxy pods reach the upstream
====================  =====================  =========================================================

``iap.affinity`` is the chart's ``tpl`` template: ``{{ .name }}`` in it becomes the deployment's name.
"""

from __future__ import annotations

import re
from typing import Any

from idgate.config.iap import Deployment, IapSection
from idgate.config.model import Config
from idgate.deploy.common import (
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
from idgate.deploy.provider import certificate, ingress
from idgate.deploy.rules import upstream_namespace
from idgate.deploy.sizes import MEASURED
from idgate.deploy.values import PROXY_SECRET_VARS, proxy_values

__all__ = ["CONTAINER", "IAP_RESOURCES", "network_policy", "proxy_objects"]

# Measured (.sizes), not the chart's Go-sized 50m/25Mi and 200m/50Mi, which would OOM-kill every pod.
IAP_RESOURCES: Obj = MEASURED["iap"].rendered
CONTAINER = "oauth2-proxy"  # the chart's container name: `kubectl apply` merges containers by name
CA_DIR = "/etc/ssl/certs"
_TPL_NAME = re.compile(r"\{\{-?\s*\.name\s*-?\}\}")


def _tpl(node: Any, name: str) -> Any:
    if isinstance(node, str):
        return _TPL_NAME.sub(name, node)
    if isinstance(node, dict):
        return {k: _tpl(v, name) for k, v in node.items()}
    if isinstance(node, list):
        return [_tpl(v, name) for v in node]
    return node


def proxy_objects(
    config: Config, iap: IapSection, dep: Deployment, *, namespace: str, image: str, certificates: bool
) -> list[Obj]:
    """Every object of one deployment."""
    name = dep.name
    selector = {"app": "iap", "target": name}
    pod = proxy_values(config, iap, dep, listen=f"0.0.0.0:{iap.port}", health=f"0.0.0.0:{HEALTH_PORT}")
    own_env = pod.env
    if dep.existingSecret:  # the chart's three keys come from there
        own_env = {k: v for k, v in pod.env.items() if k not in PROXY_SECRET_VARS.values()}
    sec = secret(f"iap-{name}-secret", namespace, selector, own_env) if own_env else None
    cm = configmap(f"iap-{name}-configmap", namespace, selector, dump(pod.document))
    objects: list[Obj] = [*([sec] if sec else []), cm]
    sums = {"checksum/config": checksum(cm), "checksum/secrets": checksum(sec) if sec else ""}
    objects.append(
        _deployment(
            iap, dep, namespace, image=image, selector=selector, sums=sums, has_secret=sec is not None
        )
    )
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(f"{name}-iap", namespace, {**selector, "kind": "proxy"}),
            "spec": {
                "type": "ClusterIP",
                "selector": dict(selector),
                "ports": [{"name": "http", "port": iap.port, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    )
    issuer = iap.certIssuer if iap.certIssuer is not None and iap.certIssuer.name else None
    annotations: dict[str, str] = {}
    if issuer is not None and not dep.ingress.tlsSecretName and not certificates:
        key = "cert-manager.io/cluster-issuer" if issuer.kind == "ClusterIssuer" else "cert-manager.io/issuer"
        annotations[key] = issuer.name
    annotations.update({str(k): str(v) for k, v in dep.ingress.annotations.items()})
    tls = dep.ingress.tlsSecretName or f"{name}-tls"
    objects.append(
        ingress(
            f"{name}-iap",
            namespace,
            selector,
            host=dep.ingress.host,
            path="/",
            service=f"{name}-iap",
            port=iap.port,
            class_name=dep.ingress.class_,
            annotations=annotations,
            tls_secret=tls,
        )
    )
    if certificates and issuer is not None and not dep.ingress.tlsSecretName:
        objects.append(
            certificate(name, namespace, selector, secret_name=tls, host=dep.ingress.host, issuer=issuer)
        )
    objects.append(pdb(f"iap-{name}", namespace, selector, selector))
    return objects


def _deployment(
    iap: IapSection,
    dep: Deployment,
    namespace: str,
    *,
    image: str,
    selector: dict[str, str],
    sums: dict[str, str],
    has_secret: bool,
) -> Obj:
    name = dep.name
    volumes, mounts = base_volumes(f"iap-{name}-configmap")
    env_from = [{"secretRef": {"name": dep.existingSecret}}] if dep.existingSecret else []
    env_from += [{"secretRef": {"name": f"iap-{name}-secret"}}] if has_secret else []
    main = container(
        CONTAINER,
        image,
        iap.image.pullPolicy if iap.image and iap.image.pullPolicy else "IfNotPresent",
        ["--role", "proxy", "--deployment", name],
        env_from=env_from,
        port=iap.port,
        probes=probes("/oauth/healthy", dep.ingress.host),
        resources=or_default(iap.resources, IAP_RESOURCES),
        mounts=mounts,
    )
    ca = iap.customProviderCA
    if ca is not None:  # the provider's private CA, where the chart mounts it (customProviderCA.path)
        volumes.append({"name": "provider-ca", "secret": {"secretName": ca.secretName}})
        mounts.append(
            {
                "name": "provider-ca",
                "mountPath": f"{CA_DIR}/{ca.secretKey}",
                "subPath": ca.secretKey,
                "readOnly": True,
            }
        )
    spec: Obj = {
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": [main],
        "volumes": volumes,
        "affinity": _tpl(or_default(iap.affinity, soft_anti_affinity(selector)), name),
    }
    for key in ("imagePullSecrets", "nodeSelector", "tolerations"):
        if getattr(iap, key):
            spec[key] = getattr(iap, key)
    annotations = {k: v for k, v in sums.items() if v}
    annotations.update({"prometheus.io/scrape": "true", "prometheus.io/port": str(HEALTH_PORT)})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(f"iap-{name}", namespace, selector),
        "spec": {
            "replicas": dep.replicas if dep.replicas is not None else iap.replicas,
            "selector": {"matchLabels": dict(selector)},
            "template": {
                "metadata": {
                    "labels": {
                        **selector,
                        "app.kubernetes.io/name": "idgate",
                        "app.kubernetes.io/component": "proxy",
                    },
                    "annotations": annotations,
                },
                "spec": spec,
            },
        },
    }


def network_policy(config: Config, dep: Deployment, proxy_namespace: str) -> Obj:
    """Only ``dep``'s proxy pods (in ``proxy_namespace``) may reach its upstream's pods, on any port
    (a policy's ports are pod ports, which the Service's ``upstream_port`` need not be). The upstream's
    namespace and pod labels are there: :mod:`.rules` refuses the render otherwise."""
    labels = config.idgate.kubernetes.upstreamSelectors[dep.name]
    namespace = upstream_namespace(dep.upstream_service)
    assert namespace is not None
    source = {"app": "iap", "target": dep.name}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(f"iap-{dep.name}-upstream", namespace, source),
        "spec": {
            "podSelector": {"matchLabels": dict(labels)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": proxy_namespace}
                            },
                            "podSelector": {"matchLabels": source},
                        }
                    ]
                }
            ],
        },
    }

"""From a rendered Deployment to what the container runtime would run: a :class:`PodPlan` (pure).

The plan holds the process (argv from the image's ``Entrypoint``/``Cmd`` and the container's
``command``/``args``, as the kubelet combines them; the environment, :mod:`.envs`), its identity (uid,
gid and groups from the security contexts; no new privileges; a read-only root), its files
(:mod:`.volumes`) and its ports and HTTP probes, named ports resolved.

Every field of the Deployment, the pod spec and the container is either honoured, deliberately ignored
(:data:`IGNORED`, each with the reason) or refused: an unknown field is a problem, so a spec that relies on
something the runner does not do fails the test instead of passing untested.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.kubernetes.envs import PodFields, expand, resolve_env
from tests.kubernetes.objects import Objects, Problems, ref
from tests.kubernetes.volumes import Mount, Volume, mounts, volumes

__all__ = ["IGNORED", "ImageConfig", "PodPlan", "Probe", "plan_pod", "pod_name"]

Obj = dict[str, Any]
NODE = "pods-node"

IGNORED: dict[str, str] = {
    "Deployment spec.replicas": "one pod per Deployment is started (replicas share one spec)",
    "Deployment spec.strategy, revisionHistoryLimit, minReadySeconds, progressDeadlineSeconds": "no rollout",
    "pod affinity, nodeSelector, tolerations, topologySpreadConstraints, priorityClassName": "one node",
    "pod imagePullSecrets, container imagePullPolicy": "the image comes from the archive, not a registry",
    "pod serviceAccountName": "no API server (automountServiceAccountToken must be false)",
    "pod seccompProfile, container seccompProfile": "the runner installs no seccomp filter",
    "pod fsGroupChangePolicy": "every volume is fresh, so ownership is always applied",
    "container resources": "the runner sets no cgroup limits",
    "container terminationMessagePath, terminationMessagePolicy": "no termination message is read",
    "probe successThreshold": "one success counts",
}
DEPLOYMENT_KEYS = ("replicas", "selector", "template", "strategy", "revisionHistoryLimit", "minReadySeconds",
                   "progressDeadlineSeconds")  # fmt: skip
POD_KEYS = ("containers", "volumes", "securityContext", "automountServiceAccountToken", "enableServiceLinks",
            "terminationGracePeriodSeconds", "restartPolicy", "dnsPolicy", "affinity", "nodeSelector",
            "tolerations", "topologySpreadConstraints", "priorityClassName", "imagePullSecrets",
            "serviceAccountName")  # fmt: skip
CONTAINER_KEYS = ("name", "image", "command", "args", "env", "envFrom", "ports", "readinessProbe",
                  "livenessProbe", "startupProbe", "securityContext", "volumeMounts", "workingDir",
                  "imagePullPolicy", "resources", "terminationMessagePath",
                  "terminationMessagePolicy")  # fmt: skip
POD_SECURITY = ("runAsUser", "runAsGroup", "runAsNonRoot", "fsGroup", "supplementalGroups", "seccompProfile",
                "fsGroupChangePolicy")  # fmt: skip
CONTAINER_SECURITY = ("runAsUser", "runAsGroup", "runAsNonRoot", "allowPrivilegeEscalation",
                      "readOnlyRootFilesystem", "capabilities", "privileged", "seccompProfile")  # fmt: skip
PROBE_KEYS = ("httpGet", "initialDelaySeconds", "periodSeconds", "timeoutSeconds", "failureThreshold",
              "successThreshold")  # fmt: skip
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


@dataclass(frozen=True)
class ImageConfig:
    """The parts of the image's config a runtime reads (OCI ``config`` object)."""

    ref: str
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "/"
    user: str = ""

    @classmethod
    def from_config(cls, ref: str, config: Mapping[str, Any]) -> ImageConfig:
        c = config.get("config") or {}
        env = tuple((e.split("=", 1)[0], e.split("=", 1)[1] if "=" in e else "") for e in c.get("Env") or ())
        return cls(
            ref,
            tuple(c.get("Entrypoint") or ()),
            tuple(c.get("Cmd") or ()),
            env,
            c.get("WorkingDir") or "/",
            c.get("User") or "",
        )


@dataclass(frozen=True)
class Probe:
    kind: str  # startupProbe, readinessProbe, livenessProbe
    port: int
    path: str
    headers: tuple[tuple[str, str], ...]
    timeout: float
    period: float
    failures: int
    delay: float


@dataclass(frozen=True)
class PodPlan:
    """One pod of one Deployment, everything resolved."""

    deployment: str  # "Deployment ns/name"
    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    read_only_root: bool
    no_new_privs: bool
    volumes: tuple[Volume, ...]
    mounts: tuple[Mount, ...]
    ports: Mapping[str, int]  # port name (or the number as text) -> containerPort
    probes: tuple[Probe, ...]
    grace_seconds: int


def pod_name(deployment: Obj) -> str:
    """``<deployment>-<template hash>-<suffix>``, stable for one template (as a ReplicaSet names pods)."""
    digest = hashlib.sha256(repr(deployment["spec"].get("template")).encode()).hexdigest()
    return f"{deployment['metadata']['name']}-{digest[:10]}-{digest[10:15]}"


def _int(ctx: Mapping[str, Any], pod: Mapping[str, Any], key: str) -> int | None:
    value = ctx.get(key, pod.get(key))
    return None if value is None else int(value)


def _identity(
    pod: Obj, container: Obj, image: ImageConfig, path: str, p: Problems
) -> tuple[int, int, list[int]]:
    psc, csc = pod.get("securityContext") or {}, container.get("securityContext") or {}
    p.unknown(psc, f"{path}.securityContext", POD_SECURITY)
    p.unknown(csc, f"{path}.containers[0].securityContext", CONTAINER_SECURITY)
    user, _, group = image.user.partition(":")
    uid = _int(csc, psc, "runAsUser")
    if uid is None and user and not user.isdigit():
        p.add(f"{path}.securityContext.runAsUser", f"unset, and the image's user {user!r} is a name")
    uid = uid if uid is not None else int(user) if user.isdigit() else 0
    gid = _int(csc, psc, "runAsGroup")
    if gid is None and not group.isdigit():
        p.add(f"{path}.securityContext.runAsGroup", "unset: the runner does not read the image's /etc/passwd")
    gid = gid if gid is not None else int(group) if group.isdigit() else 0
    if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0:
        p.add(f"{path}.securityContext.runAsNonRoot", "true, but the container would run as uid 0")
    if uid == 0:
        p.add(f"{path}.securityContext.runAsUser", "the runner does not run containers as root")
    if csc.get("privileged"):
        p.add(f"{path}.containers[0].securityContext.privileged", "privileged containers are not supported")
    caps = csc.get("capabilities") or {}
    p.unknown(caps, f"{path}.containers[0].securityContext.capabilities", ("drop", "add"))
    if caps.get("add"):
        p.add(f"{path}.containers[0].securityContext.capabilities.add", "the runner grants no capabilities")
    groups = [int(g) for g in [psc.get("fsGroup"), *(psc.get("supplementalGroups") or [])] if g is not None]
    return uid, gid, list(dict.fromkeys(groups))


def _argv(container: Obj, image: ImageConfig, env: Mapping[str, str], path: str, p: Problems) -> list[str]:
    """``command`` replaces ``Entrypoint`` (and drops ``Cmd``); ``args`` replaces ``Cmd``."""
    if "command" in container:
        head = [expand(str(a), env) for a in container["command"] or []]
    else:
        head = list(image.entrypoint)
    if "args" in container:
        tail = [expand(str(a), env) for a in container["args"] or []]
    else:
        tail = [] if "command" in container else list(image.cmd)
    if not head + tail:
        p.add(f"{path}.containers[0]", "no command: neither the spec nor the image gives one")
    return head + tail


def _ports(container: Obj, path: str, p: Problems) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, port in enumerate(container.get("ports") or []):
        where = f"{path}.containers[0].ports[{i}]"
        p.unknown(port, where, ("name", "containerPort", "protocol"))
        if port.get("protocol", "TCP") != "TCP":
            p.add(f"{where}.protocol", f"{port['protocol']} is not supported (TCP only)")
        number = int(port.get("containerPort", 0))
        if not 0 < number < 65536:
            p.add(f"{where}.containerPort", f"{number} is not a port")
        name = str(port.get("name") or number)
        if name in out:
            p.add(f"{where}.name", f"port {name!r} is declared twice")
        out[name] = number
    return out


def _probes(container: Obj, ports: Mapping[str, int], path: str, p: Problems) -> list[Probe]:
    out: list[Probe] = []
    for kind in PROBES:
        probe = container.get(kind)
        if probe is None:
            continue
        where = f"{path}.containers[0].{kind}"
        p.unknown(probe, where, PROBE_KEYS)
        get = probe.get("httpGet")
        if get is None:
            p.add(where, "only httpGet probes are supported")
            continue
        p.unknown(get, f"{where}.httpGet", ("path", "port", "httpHeaders", "scheme"))
        if get.get("scheme", "HTTP") != "HTTP":
            p.add(f"{where}.httpGet.scheme", f"{get['scheme']} is not supported")
        port = get.get("port")
        number = port if isinstance(port, int) else ports.get(str(port))
        if number is None:
            p.add(f"{where}.httpGet.port", f"no container port named {port!r}")
            continue
        headers = tuple((str(h["name"]), str(h["value"])) for h in get.get("httpHeaders") or [])
        out.append(
            Probe(
                kind,
                int(number),
                str(get.get("path", "/")),
                headers,
                float(probe.get("timeoutSeconds", 1)),
                float(probe.get("periodSeconds", 10)),
                int(probe.get("failureThreshold", 3)),
                float(probe.get("initialDelaySeconds", 0)),
            )
        )
    return out


def _check_shape(deployment: Obj, image: ImageConfig, p: Problems) -> tuple[Obj, Obj]:
    spec = deployment.get("spec") or {}
    p.unknown(spec, "spec", DEPLOYMENT_KEYS)
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector") or {}
    p.unknown(selector, "spec.selector", ("matchLabels",))
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        p.add("spec.selector", "does not select the template's labels (the API server refuses this)")
    pod = template.get("spec") or {}
    p.unknown(pod, "spec.template.spec", POD_KEYS)
    if pod.get("automountServiceAccountToken") is not False:
        p.add("spec.template.spec.automountServiceAccountToken", "must be false: there is no API server")
    if pod.get("restartPolicy", "Always") != "Always":
        p.add("spec.template.spec.restartPolicy", "a Deployment's pods restart Always")
    if pod.get("dnsPolicy", "ClusterFirst") != "ClusterFirst":
        p.add("spec.template.spec.dnsPolicy", f"{pod['dnsPolicy']} is not supported")
    containers = pod.get("containers") or []
    if len(containers) != 1:
        p.add("spec.template.spec.containers", f"{len(containers)} containers: the runner runs exactly one")
        return pod, {}
    container = containers[0]
    p.unknown(container, "spec.template.spec.containers[0]", CONTAINER_KEYS)
    if container.get("image") != image.ref:
        p.add("spec.template.spec.containers[0].image", f"{container.get('image')!r} is not {image.ref!r}")
    return pod, container


def plan_pod(
    deployment: Obj,
    *,
    objects: Objects,
    image: ImageConfig,
    ip: str,
    host_ip: str,
    links: Mapping[str, str],
) -> PodPlan:
    """The pod of ``deployment``, or :class:`~tests.kubernetes.objects.PodSpecError` with every problem."""
    p = Problems(ref(deployment))
    namespace = str(deployment["metadata"].get("namespace", "default"))
    pod, container = _check_shape(deployment, image, p)
    path = "spec.template.spec"
    name = pod_name(deployment)
    template_meta = deployment["spec"].get("template", {}).get("metadata") or {}
    fields = PodFields(
        {
            "metadata.name": name,
            "metadata.namespace": namespace,
            "metadata.uid": hashlib.sha256(name.encode()).hexdigest()[:32],
            "spec.nodeName": NODE,
            "spec.serviceAccountName": str(pod.get("serviceAccountName", "default")),
            "status.podIP": ip,
            "status.podIPs": ip,
            "status.hostIP": host_ip,
        },
        template_meta.get("labels") or {},
        template_meta.get("annotations") or {},
    )
    declared = volumes(pod, path, namespace, objects, p)
    env = resolve_env(
        container,
        f"{path}.containers[0]",
        namespace=namespace,
        objects=objects,
        fields=fields,
        links=links if pod.get("enableServiceLinks", True) else {},
        problems=p,
    )
    uid, gid, groups = _identity(pod, container, image, path, p)
    argv = _argv(container, image, env, path, p)
    ports = _ports(container, path, p)
    probes = _probes(container, ports, path, p)
    mounted = mounts(container, f"{path}.containers[0]", declared, p)
    p.raise_if_any()
    csc = container.get("securityContext") or {}
    full_env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME": name}
    full_env.update(dict(image.env))
    full_env.update(env)
    return PodPlan(
        deployment=ref(deployment),
        name=name,
        namespace=namespace,
        labels=dict(fields.labels),
        ip=ip,
        argv=tuple(argv),
        env=tuple(full_env.items()),
        workdir=str(container.get("workingDir") or image.workdir),
        uid=uid,
        gid=gid,
        groups=tuple(groups),
        read_only_root=bool(csc.get("readOnlyRootFilesystem")),
        no_new_privs=csc.get("allowPrivilegeEscalation") is False,
        volumes=tuple(declared),
        mounts=tuple(mounted),
        ports=ports,
        probes=tuple(probes),
        grace_seconds=int(pod.get("terminationGracePeriodSeconds", 30)),
    )

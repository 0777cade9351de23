"""The cluster's addresses and names, as kube-proxy, cluster DNS and an ingress controller would give them
(pure: objects in, addresses, relay routes and ``/etc/hosts`` text out).

In one private /24 (``PREFIX.0/24``, only inside the namespaces the test creates):

=============  ====================================================================================
``.1``         the host end of the bridge: PostgreSQL, Redis, the upstream (``externals``), relayed to
               where they really listen
``.10`` ...    one pod per Deployment
``.100`` ...   one cluster IP per Service: ``port`` relayed to ``targetPort`` (named ports resolved in
               each selected pod) of every pod its selector matches (round robin)
``.200`` ...   one address per Ingress host: port 80 relayed to its backend Service's pods
=============  ====================================================================================

Names: ``NAME.NAMESPACE.svc.cluster.local``, ``NAME.NAMESPACE.svc``, ``NAME.NAMESPACE`` (and ``NAME`` in
the pod's own namespace) for each Service; each Ingress host; each external name. The Ingress is relayed
over TCP, so one host must send every path to one backend (else a problem); TLS is not terminated (the
test's values use ``http``), and :meth:`Topology.ingress_allows` tells which paths the Ingress routes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.kubernetes.envs import Service
from tests.kubernetes.objects import Objects, Problems, ref

__all__ = ["Route", "Topology", "plan_topology"]

Obj = dict[str, Any]
Address = tuple[str, int]
SERVICE_KEYS = ("type", "selector", "ports", "sessionAffinity")
HOSTS_HEAD = (
    "# Kubernetes-managed hosts file (the pod runner's).\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
)


@dataclass(frozen=True)
class Route:
    """``listen`` relayed to ``targets`` (round robin); ``what`` names it in messages."""

    listen: Address
    targets: tuple[Address, ...]
    what: str


@dataclass
class Topology:
    host_ip: str
    pod_ips: dict[str, str] = field(default_factory=dict)  # "ns/deployment" -> ip
    services: dict[str, list[Service]] = field(default_factory=dict)  # namespace -> services
    routes: list[Route] = field(default_factory=list)
    names: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)  # (ip, names, namespace)
    ingress: dict[str, tuple[str, list[tuple[str, str]]]] = field(default_factory=dict)  # host -> ip, paths

    def hosts_file(self, pod: str, ip: str, namespace: str) -> str:
        """The pod's ``/etc/hosts``: itself, then every name of the cluster."""
        lines = [HOSTS_HEAD, f"{ip}\t{pod}\n"]
        for addr, names, ns in self.names:
            short = (names[0].split(".")[0],) if ns == namespace else ()
            lines.append(f"{addr}\t{' '.join((*names, *short))}\n")
        return "".join(lines)

    def resolver_overrides(self) -> dict[str, Address]:
        """For the test's HTTP client: each Ingress host to its address, port 80."""
        return {host: (ip, 80) for host, (ip, _) in self.ingress.items()}

    def ingress_allows(self, host: str, path: str) -> bool:
        """Whether the Ingress for ``host`` routes ``path`` (Prefix and Exact path types)."""
        _, paths = self.ingress.get(host, ("", []))
        for prefix, kind in paths:
            if kind == "Exact" and path == prefix:
                return True
            trimmed = prefix.rstrip("/")
            if kind != "Exact" and (path == trimmed or path.startswith(trimmed + "/") or prefix == "/"):
                return True
        return False


def _template(deployment: Obj) -> tuple[dict[str, str], dict[str, int]]:
    template = deployment["spec"]["template"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    ports = {}
    for c in template["spec"].get("containers") or []:
        for port in c.get("ports") or []:
            if "name" in port:
                ports[str(port["name"])] = int(port["containerPort"])
    return labels, ports


def _service(svc: Obj, ip: str, pods: list[tuple[str, Obj]], topo: Topology, p: Problems) -> None:
    ns, name = svc["metadata"].get("namespace", "default"), svc["metadata"]["name"]
    spec = svc.get("spec") or {}
    p.unknown(spec, f"{ref(svc)}: spec", SERVICE_KEYS)
    if spec.get("type", "ClusterIP") != "ClusterIP":
        p.add(f"{ref(svc)}: spec.type", f"{spec['type']} is not supported (ClusterIP only)")
    selector = spec.get("selector") or {}
    selected = [(pod_ip, d) for pod_ip, d in pods if d["metadata"].get("namespace", "default") == ns]
    selected = [(pod_ip, d) for pod_ip, d in selected if _matches(_template(d)[0], selector)]
    if not selector or not selected:
        p.add(f"{ref(svc)}: spec.selector", f"{selector} selects no rendered pod")
    ports: list[tuple[str, int, str]] = []
    for i, port in enumerate(spec.get("ports") or []):
        where = f"{ref(svc)}: spec.ports[{i}]"
        p.unknown(port, where, ("name", "port", "targetPort", "protocol"))
        target = port.get("targetPort", port.get("port"))
        targets = []
        for pod_ip, deployment in selected:
            named = _template(deployment)[1]
            number = target if isinstance(target, int) else named.get(str(target))
            if number is None:
                p.add(f"{where}.targetPort", f"{ref(deployment)}'s pod has no port named {target!r}")
            else:
                targets.append((pod_ip, int(number)))
        ports.append((str(port.get("name", "")), int(port["port"]), str(port.get("protocol", "TCP"))))
        topo.routes.append(Route((ip, int(port["port"])), tuple(targets), f"Service {ns}/{name}"))
    topo.services.setdefault(ns, []).append(Service(name, ip, tuple(ports)))
    topo.names.append((ip, (f"{name}.{ns}.svc.cluster.local", f"{name}.{ns}.svc", f"{name}.{ns}"), ns))


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _ingress(ing: Obj, ip: str, topo: Topology, p: Problems) -> None:
    ns = ing["metadata"].get("namespace", "default")
    spec = ing.get("spec") or {}
    p.unknown(spec, f"{ref(ing)}: spec", ("ingressClassName", "tls", "rules"))
    for i, rule in enumerate(spec.get("rules") or []):
        where = f"{ref(ing)}: spec.rules[{i}]"
        host = str(rule.get("host", ""))
        if not host:
            p.add(f"{where}.host", "a rule without host is not supported")
            continue
        backends, paths = set(), []
        for j, entry in enumerate((rule.get("http") or {}).get("paths") or []):
            service = (entry.get("backend") or {}).get("service") or {}
            port = service.get("port") or {}
            backends.add((str(service.get("name")), str(port.get("number", port.get("name")))))
            paths.append((str(entry.get("path", "/")), str(entry.get("pathType", "Prefix"))))
            if "service" not in (entry.get("backend") or {}):
                p.add(f"{where}.http.paths[{j}].backend", "only service backends are supported")
        if len(backends) != 1:
            p.add(where, f"{host}: {len(backends)} backends; the runner relays one backend per host")
            continue
        ((service_name, port_ref),) = backends
        route = _service_route(topo, ns, service_name, port_ref)
        if route is None:
            p.add(where, f"backend Service {ns}/{service_name} port {port_ref} is not rendered")
            continue
        topo.ingress[host] = (ip, paths)
        topo.routes.append(Route((ip, 80), route.targets, f"{ref(ing)} ({host})"))
        topo.names.append((ip, (host,), ""))


def _service_route(topo: Topology, ns: str, name: str, port_ref: str) -> Route | None:
    for svc in topo.services.get(ns, []):
        if svc.name != name:
            continue
        for port_name, number, _ in svc.ports:
            if port_ref in (port_name, str(number)):
                return next((r for r in topo.routes if r.listen == (svc.ip, number)), None)
    return None


def plan_topology(objects: Objects, prefix: str, externals: Mapping[str, Mapping[int, Address]]) -> Topology:
    """Addresses for every Deployment's pod, Service and Ingress host of ``objects``; ``externals``:
    names (PostgreSQL, Redis, the upstream) that live on the host end, with their ports and where each
    really listens. Raises :class:`~tests.kubernetes.objects.PodSpecError` with every problem."""
    topo = Topology(host_ip=f"{prefix}.1")
    p = Problems("topology")
    deployments = objects.of_kind("Deployment")
    pods = []
    for i, d in enumerate(deployments):
        ip = f"{prefix}.{10 + i}"
        topo.pod_ips[f"{d['metadata'].get('namespace', 'default')}/{d['metadata']['name']}"] = ip
        pods.append((ip, d))
    for i, svc in enumerate(objects.of_kind("Service")):
        _service(svc, f"{prefix}.{100 + i}", pods, topo, p)
    for i, ing in enumerate(objects.of_kind("Ingress")):
        _ingress(ing, f"{prefix}.{200 + i}", topo, p)
    for name, ports in externals.items():
        topo.names.append((topo.host_ip, (name,), ""))
        for port, target in ports.items():
            topo.routes.append(Route((topo.host_ip, port), (target,), name))
    p.raise_if_any()
    return topo

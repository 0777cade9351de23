"""The rendered objects running: the network, the relays and one pod per Deployment, and their probes.

:func:`run_cluster` plans first (addresses, then every pod; a :class:`~.objects.PodSpecError` before anything
starts), then brings the network, relays and pods up, and on exit takes everything down in reverse order,
also when the body failed: pods (SIGTERM, then SIGKILL after their grace period), relays, namespaces,
links, bridge. Mounts live in each pod's own mount namespace and go with its last process.
"""

from __future__ import annotations

import contextlib
import http.client
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.kubernetes.envs import service_links
from tests.kubernetes.netns import network
from tests.kubernetes.objects import Objects
from tests.kubernetes.pods import ImageConfig, PodPlan, Probe, plan_pod
from tests.kubernetes.relay import Relays, relays
from tests.kubernetes.runtime import RunningPod, start_pod
from tests.kubernetes.topology import Address, Topology, plan_topology

__all__ = ["Cluster", "probe", "run_cluster"]

STOP_GRACE = 10.0  # at most this long for SIGTERM (the pods' terminationGracePeriodSeconds is 30)


@dataclass
class Cluster:
    topology: Topology
    pods: list[RunningPod]
    relays: Relays
    stopped: dict[str, float | None] = field(default_factory=dict)  # pod -> seconds to exit on SIGTERM

    def pod(self, deployment: str) -> RunningPod:
        """The pod of ``Deployment NAMESPACE/NAME``."""
        return next(p for p in self.pods if p.plan.deployment == f"Deployment {deployment}")

    def stop(self) -> None:
        for pod in self.pods:
            if pod.plan.name not in self.stopped:
                self.stopped[pod.plan.name] = pod.stop(min(STOP_GRACE, pod.plan.grace_seconds))


def probe(pod: RunningPod, check: Probe) -> tuple[bool, str]:
    """One HTTP probe as the kubelet sends it (to the pod's IP; 200-399 passes); (passed, what came back)."""
    headers = {"User-Agent": "kube-probe/1.31", "Accept": "*/*", **dict(check.headers)}
    conn = http.client.HTTPConnection(pod.plan.ip, check.port, timeout=check.timeout)
    try:
        conn.request("GET", check.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read(200).decode(errors="replace")
        return 200 <= resp.status < 400, f"{resp.status} {body!r}"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def wait_ready(pods: list[RunningPod], timeout: float) -> None:
    """Until every pod's readiness probe passes; a pod that exits or stays unready fails with its log."""
    deadline = time.monotonic() + timeout
    waiting = {p.plan.name: p for p in pods}
    last: dict[str, str] = {}
    while waiting:
        for name, pod in list(waiting.items()):
            if pod.process.poll() is not None:
                raise AssertionError(f"pod {name} exited ({pod.process.returncode}):\n{pod.output()}")
            ready = [c for c in pod.plan.probes if c.kind == "readinessProbe"]
            if not ready:
                raise AssertionError(f"pod {name} ({pod.plan.deployment}) has no readinessProbe")
            ok, last[name] = probe(pod, ready[0])
            if ok:
                del waiting[name]
        if waiting and time.monotonic() > deadline:
            report = "\n".join(f"{n}: {last.get(n)}\n{waiting[n].output()}" for n in waiting)
            raise AssertionError(f"pods not ready within {timeout:.0f} s:\n{report}")
        time.sleep(0.2)


def _plans(objects: Objects, topo: Topology, image: ImageConfig) -> list[PodPlan]:
    plans = []
    for d in objects.of_kind("Deployment"):
        ns = d["metadata"].get("namespace", "default")
        links = service_links(topo.services.get(ns, []))
        ip = topo.pod_ips[f"{ns}/{d['metadata']['name']}"]
        plans.append(plan_pod(d, objects=objects, image=image, ip=ip, host_ip=topo.host_ip, links=links))
    return plans


@contextlib.contextmanager
def run_cluster(
    objects: Objects,
    *,
    image: ImageConfig,
    image_root: Path,
    work: Path,
    externals: Mapping[str, Mapping[int, Address]],
    ready_timeout: float = 45.0,
) -> Iterator[Cluster]:
    """Every Deployment of ``objects`` running as one pod from ``image_root``, each ready."""
    with network() as net:
        topo = plan_topology(objects, net.prefix, externals)
        plans = _plans(objects, topo, image)
        for addr in sorted({r.listen[0] for r in topo.routes} - {net.host_ip}):
            net.add_address(addr)
        with relays(topo.routes) as running:
            cluster = Cluster(topo, [], running)
            try:
                for plan in plans:
                    netns = net.add_pod(plan.ip)
                    hosts = topo.hosts_file(plan.name, plan.ip, plan.namespace)
                    cluster.pods.append(
                        start_pod(
                            plan,
                            image_root=image_root,
                            pod_dir=work / "pods" / plan.name,
                            netns=netns,
                            hosts=hosts,
                            claims=work / "claims",
                        )
                    )
                wait_ready(cluster.pods, ready_timeout)
                yield cluster
            finally:
                cluster.stop()

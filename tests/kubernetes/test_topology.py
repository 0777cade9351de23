"""The pods' addresses and names (pure): Services relay to the pods their selector picks, on the named
target port; Ingress hosts to their backend; every pod's ``/etc/hosts`` holds the cluster's names."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.kubernetes.objects import Objects, PodSpecError
from tests.kubernetes.scenario import values
from tests.kubernetes.topology import Route, plan_topology

from idgate.config import load_config_text
from idgate.deploy.kubernetes import RenderOptions, render_kubernetes

Obj = dict[str, Any]
EXTERNALS = {"postgres.db.svc.cluster.local": {5432: ("127.0.0.1", 5432)}}


def rendered() -> list[Obj]:
    config = load_config_text(yaml.safe_dump(values("abc123", "db")), env={})
    return render_kubernetes(config, RenderOptions(image="localhost/idgate:test")).objects


def test_services_ingress_hosts_and_externals_get_addresses_and_relays() -> None:
    topo = plan_topology(Objects(rendered()), "10.9.8", EXTERNALS)
    dex_pod = topo.pod_ips["oauth/dex"]
    routes = {r.what: r for r in topo.routes}
    assert routes["Service oauth/dex"].targets == ((dex_pod, 5556),)  # targetPort "http" resolved
    assert routes["Ingress oauth/dex (kkp.pods.test)"] == Route(
        (topo.ingress["kkp.pods.test"][0], 80), ((dex_pod, 5556),), "Ingress oauth/dex (kkp.pods.test)"
    )
    assert routes["postgres.db.svc.cluster.local"].listen == ("10.9.8.1", 5432)
    alpha = topo.pod_ips["iap/iap-alpha-abc123"]
    assert routes["Service iap/alpha-abc123-iap"].targets == ((alpha, 3000),)
    assert set(topo.resolver_overrides()) == {"kkp.pods.test", "alpha.pods.test", "beta.pods.test"}

    hosts = topo.hosts_file("iap-alpha-abc123-x", alpha, "iap").splitlines()
    assert f"{alpha}\tiap-alpha-abc123-x" in hosts
    svc_ip = routes["Service oauth/dex"].listen[0]
    assert (
        f"{svc_ip}\tdex.oauth.svc.cluster.local dex.oauth.svc dex.oauth" in hosts
    )  # no short name: other ns
    assert any(line.endswith(" alpha-abc123-iap") for line in hosts)  # its own namespace: the short name too
    assert f"{topo.ingress['kkp.pods.test'][0]}\tkkp.pods.test" in hosts
    assert "10.9.8.1\tpostgres.db.svc.cluster.local" in hosts


def test_the_ingress_routes_only_its_paths() -> None:
    topo = plan_topology(Objects(rendered()), "10.9.8", {})
    assert topo.ingress_allows("kkp.pods.test", "/dex/auth") and topo.ingress_allows("kkp.pods.test", "/dex")
    assert not topo.ingress_allows("kkp.pods.test", "/dexterity") and not topo.ingress_allows(
        "kkp.pods.test", "/"
    )
    assert topo.ingress_allows("alpha.pods.test", "/anything") and not topo.ingress_allows("nope.test", "/")


def _unknown_port_name(objects: list[Obj]) -> list[Obj]:
    for o in objects:
        if o["kind"] == "Service" and o["metadata"]["name"] == "dex":
            o["spec"]["ports"][0]["targetPort"] = "web"
    return objects


def _split_ingress(objects: list[Obj]) -> list[Obj]:
    for o in objects:
        if o["kind"] == "Ingress" and o["metadata"]["name"] == "dex":
            paths = o["spec"]["rules"][0]["http"]["paths"]
            paths.append(
                {**paths[0], "path": "/other", "backend": {"service": {"name": "x", "port": {"number": 1}}}}
            )
    return objects


def _node_ports(objects: list[Obj]) -> list[Obj]:
    return [
        {**o, "spec": {**o["spec"], "type": "NodePort"}} if o["kind"] == "Service" else o for o in objects
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_unknown_port_name, "spec.ports[0].targetPort: Deployment oauth/dex's pod has no port named 'web'"),
        (lambda objs: [o for o in objs if not (o["kind"] == "Deployment" and o["metadata"]["name"] == "dex")],
         "Service oauth/dex: spec.selector: {'app': 'dex'} selects no rendered pod"),
        (_split_ingress, "kkp.pods.test: 2 backends"),
        (_node_ports, "NodePort is not supported"),
    ],
)  # fmt: skip
def test_a_service_or_ingress_the_relays_cannot_serve_fails(change: Any, expected: str) -> None:
    with pytest.raises(PodSpecError) as caught:
        plan_topology(Objects(change(rendered())), "10.9.8", {})
    assert any(expected in p for p in caught.value.problems), caught.value.problems

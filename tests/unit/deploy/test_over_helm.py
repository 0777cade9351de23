"""``kubectl apply`` of the render over a Helm release of the charts: the pods run idgate alone.

``kubectl apply`` on an object Helm made (no ``last-applied-configuration``) is a strategic merge of the
file into the live object; ``kubectl patch --local --type strategic`` does that merge without a cluster,
with kubectl's own code and schema (containers by name, volumes by name, mounts by path, ports by number).
The charts' Deployments are ``tests/fixtures/charts/``. What the merge keeps of the chart (volumes,
mounts and env that idgate does not use) is pinned here: ``docs/migration.md`` replaces the Deployments
for that reason, and rolls back by replacing them again, since applying the chart's object back would
keep idgate's ``args`` (the last test).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.deploy.support import INPUTS, ROOT, by_kind, validate

from idgate.config import load_config
from idgate.deploy.kubernetes import render_kubernetes

CHARTS = ROOT / "tests" / "fixtures" / "charts"
IDGATE_PATHS = ("/etc/idgate", "/tmp", "/var/lib/idgate")
#: chart file -> (the rendered object, the chart's container, what a merge keeps of the chart)
CHARTS_RENDERED = {
    "oauth-deployment-dex.yaml": (
        ("Deployment", "oauth", "dex"),
        "dex",
        {"volumes": {"themes"}, "mounts": {"/etc/dex/cfg", "/srv/dex/web/themes/light"}},
    ),
    "iap-deployment-iap-prometheus.yaml": (
        ("Deployment", "iap", "iap-prometheus"),
        "oauth2-proxy",
        {"volumes": set(), "mounts": {"/config"}},
    ),
}


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: scripts/system-deps says how to install it")
    return found


def merge(live: dict[str, Any], file: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``kubectl apply`` of ``file`` over ``live`` (a strategic merge), by kubectl, without a cluster."""
    live_path, patch_path = tmp / "live.yaml", tmp / "patch.yaml"
    live_path.write_text(yaml.safe_dump(live))
    patch_path.write_text(yaml.safe_dump(file))
    argv = [kubectl(), "patch", "--local", "-f", str(live_path), "--type", "strategic"]
    done = subprocess.run(
        [*argv, "--patch-file", str(patch_path), "-o", "yaml"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    merged: dict[str, Any] = yaml.safe_load(done.stdout)
    return merged


def rendered(*sets: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    path, base = INPUTS["kkp-example"]
    return by_kind(render_kubernetes(load_config(path, sets=(*base, *sets), env={})).objects)


def chart(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((CHARTS / name).read_text())
    return obj


@pytest.mark.parametrize("name", sorted(CHARTS_RENDERED))
def test_apply_over_the_charts_deployment_runs_idgate_alone(name: str, tmp_path: Path) -> None:
    key, container_name, kept = CHARTS_RENDERED[name]
    ours = rendered()[key]
    merged = merge(chart(name), ours, tmp_path)
    validate(merged)
    assert merged["spec"]["selector"] == chart(name)["spec"]["selector"] == ours["spec"]["selector"]
    pod, our_pod = merged["spec"]["template"]["spec"], ours["spec"]["template"]["spec"]
    (container,) = pod["containers"]  # replaced, not added beside the chart's
    (our,) = our_pod["containers"]
    assert container["name"] == our["name"] == container_name
    for field in ("image", "command", "args", "envFrom", "resources", "securityContext"):
        assert container[field] == our[field], field
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == our[probe]["httpGet"]
    assert pod["securityContext"] == our_pod["securityContext"]
    assert all(v in pod["volumes"] for v in our_pod["volumes"])
    assert all(m in container["volumeMounts"] for m in our["volumeMounts"])
    # what the merge keeps of the chart: nothing idgate reads
    left_volumes = {v["name"] for v in pod["volumes"] if v not in our_pod["volumes"]}
    left_mounts = {m["mountPath"] for m in container["volumeMounts"] if m not in our["volumeMounts"]}
    assert (left_volumes, left_mounts) == (kept["volumes"], kept["mounts"])
    assert not [m for m in left_mounts if m.startswith(IDGATE_PATHS)]
    left_env = [e["name"] for e in container.get("env", []) if e not in our.get("env", [])]
    assert not [e for e in left_env if e.startswith(("IDGATE_", "OAUTH2_PROXY_"))]


def test_a_persistent_provider_replaces_the_rolling_update(tmp_path: Path) -> None:
    ours = rendered("dex.replicas=1", "idgate.storage=null", "idgate.kubernetes.persistence.enabled=true")
    merged = merge(chart("oauth-deployment-dex.yaml"), ours[("Deployment", "oauth", "dex")], tmp_path)
    validate(merged)  # no rollingUpdate left beside type: Recreate
    assert merged["spec"]["strategy"] == {"type": "Recreate"}
    volumes = merged["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "dex-data"}} in volumes


def test_applying_the_charts_object_back_does_not_roll_back(tmp_path: Path) -> None:
    """Why the rollback in docs/migration.md replaces: a merge keeps what the chart does not set."""
    dex = chart("oauth-deployment-dex.yaml")
    migrated = merge(dex, rendered()[("Deployment", "oauth", "dex")], tmp_path)
    back = merge(migrated, dex, tmp_path)
    (container,) = back["spec"]["template"]["spec"]["containers"]
    assert container["command"][0] == "/usr/local/bin/dex"
    assert container["args"][:2] == ["serve", "--config"]  # idgate's, which Dex would refuse

"""What ``render kubernetes`` adds for the provider's state and the pods' sizes: SQLite in an emptyDir or on a
PersistentVolumeClaim, the PostgreSQL password's way into the pod, and requests and limits from
measurement (``idgate.deploy.rules``, ``idgate.deploy.sizes``)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.unit.deploy.support import FIXTURES, INPUTS, by_kind, secret_env, validate

from idgate.config import build_settings, check, load_config, load_config_text
from idgate.deploy.kubernetes import render_kubernetes
from idgate.deploy.sizes import MEASURED, memory_mib
from idgate.errors import ConfigError

MINIMAL = FIXTURES / "minimal.yaml"
PERSISTENT = ("idgate.kubernetes.persistence.enabled=true",)


#: The fixture's static password is bcrypt("password"): ``idgate check`` warns there (test_weak_passwords.py).
WEAK = "dex.staticPasswords[0].hash"


def render(path: Any = MINIMAL, sets: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Any:
    return render_kubernetes(load_config(path, sets=sets, env=env or {}))


def test_one_sqlite_replica_in_an_emptydir_is_a_render_warning_only() -> None:
    rendered = render()
    warning, replicas = rendered.warnings  # and the chart's 2 proxy replicas, which cannot share sign-outs
    assert replicas.path == "iap.replicas" and "revocation list" in replicas.message
    assert warning.path == "idgate.storage" and "lives in an emptyDir" in warning.message
    assert "refresh token" in warning.message and "persistence.enabled: true" in warning.message
    # about no key of the file check says more (but that its static password is bcrypt("password"))
    assert [p.path for p in check(load_config(MINIMAL, env={}))] == [WEAK]


def test_persistence_puts_the_database_on_a_claim() -> None:
    sets = (*PERSISTENT, "idgate.kubernetes.persistence.size=5Gi")
    sets += ("idgate.kubernetes.persistence.storageClassName=fast",)
    rendered = render(sets=sets)
    assert [w.path for w in rendered.warnings] == ["iap.replicas"]  # proxies' sign-outs: SQLite per pod
    objs = by_kind(rendered.objects)
    claim = objs[("PersistentVolumeClaim", "oauth", "dex-data")]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast",
    }
    deployment = objs[("Deployment", "oauth", "dex")]
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "dex-data"}} in pod["volumes"]
    assert {"name": "data", "mountPath": "/var/lib/idgate"} in pod["containers"][0]["volumeMounts"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    env = secret_env(objs[("Secret", "oauth", "dex-secret")])
    assert env["IDGATE_STORAGE"] == "sqlite:////var/lib/idgate/idgate.db"
    names = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert names.index(("PersistentVolumeClaim", "dex-data")) < names.index(("Deployment", "dex"))
    for obj in rendered.objects:
        validate(obj)


def test_a_claim_size_must_be_a_quantity() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(MINIMAL, sets=("idgate.kubernetes.persistence.size=lots",), env={})
    assert [str(p) for p in err.value.problems] == [
        "idgate.kubernetes.persistence.size: expected a Kubernetes quantity such as 1Gi or 500Mi"
    ]


def test_persistence_with_postgresql_is_a_warning() -> None:
    path, sets = INPUTS["kkp-example"]
    rendered = render(path, (*sets, *PERSISTENT))
    assert [(w.path, w.message) for w in rendered.warnings] == [
        (
            "idgate.kubernetes.persistence.enabled",
            "has no effect: the provider keeps its state in idgate.storage (PostgreSQL)",
        )
    ]
    assert not [o for o in rendered.objects if o["kind"] == "PersistentVolumeClaim"]


DSN = "postgresql://idgate:${PGPASSWORD}@postgres.idgate.svc.cluster.local:5432/idgate"
PASSWORD = "pw-9Xq$2"


def test_a_dsn_password_from_the_environment_reaches_the_pod_through_its_secret() -> None:
    """``${PGPASSWORD}`` is expanded when rendering; the DSN goes to Secret ``dex-secret``
    (``IDGATE_STORAGE``, loaded with ``envFrom``), never to the ConfigMap or the Deployment."""
    path, _ = INPUTS["kkp-example"]
    objs = by_kind(render(path, (f"idgate.storage={DSN}",), {"PGPASSWORD": PASSWORD}).objects)
    want = DSN.replace("${PGPASSWORD}", PASSWORD)
    env = secret_env(objs[("Secret", "oauth", "dex-secret")])
    assert env["IDGATE_STORAGE"] == want
    values = objs[("ConfigMap", "oauth", "dex")]["data"]["values.yaml"]
    deployment = objs[("Deployment", "oauth", "dex")]
    assert PASSWORD not in values and PASSWORD not in yaml.safe_dump(deployment)
    assert yaml.safe_load(values)["idgate"]["storage"] == "${IDGATE_STORAGE}"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "dex-secret"}}
    ]
    assert build_settings(load_config_text(values, env=env)).storage == want  # what the pod runs


def test_a_dsn_password_that_is_not_set_when_rendering_is_named() -> None:
    path, _ = INPUTS["kkp-example"]
    try:
        render(path, (f"idgate.storage={DSN}",))
    except ConfigError as exc:
        assert [str(p) for p in exc.problems] == [
            "idgate.storage: environment variable PGPASSWORD is not set"
        ]
    else:
        raise AssertionError("rendered without PGPASSWORD")


def test_a_password_from_a_secret_of_the_cluster_stays_out_of_the_render() -> None:
    """No password in the DSN; the pod gets ``PGPASSWORD`` from the cluster's Secret through ``dex.env``
    (asyncpg, like libpq, reads it when the DSN has none)."""
    path, _ = INPUTS["kkp-example"]
    from_secret = {
        "name": "PGPASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "idgate-db", "key": "password"}},
    }
    dsn = "postgresql://idgate@postgres.idgate.svc.cluster.local:5432/idgate"
    values = yaml.safe_load(path.read_text())
    values["dex"]["env"] = [from_secret]
    values["idgate"] = {"storage": dsn}
    objs = by_kind(render_kubernetes(load_config_text(yaml.safe_dump(values), env={})).objects)
    container = objs[("Deployment", "oauth", "dex")]["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [from_secret]
    assert secret_env(objs[("Secret", "oauth", "dex-secret")])["IDGATE_STORAGE"] == dsn


def test_default_sizes_come_from_the_measurement_with_their_margins() -> None:
    objs = by_kind(render().objects)
    for key, role in ((("Deployment", "oauth", "dex"), "dex"), (("Deployment", "iap", "iap-app"), "iap")):
        resources = objs[key]["spec"]["template"]["spec"]["containers"][0]["resources"]
        measured = MEASURED[role]
        assert resources == measured.rendered
        request, limit = (
            memory_mib(resources["requests"]["memory"]),
            memory_mib(resources["limits"]["memory"]),
        )
        assert request is not None and limit is not None
        assert measured.steady_mib * 1.25 <= request < measured.steady_mib * 1.25 + 16
        assert measured.peak_mib * 1.5 <= limit < measured.peak_mib * 1.5 + 32


def test_the_charts_memory_values_are_kept_and_check_warns() -> None:
    sets = (
        "dex.resources.requests.memory=32Mi",
        "dex.resources.limits.memory=128Mi",
        "iap.resources.requests.memory=25Mi",
        "iap.resources.limits.memory=50Mi",
    )
    config = load_config(MINIMAL, sets=sets, env={})
    found = {p.path: p.message for p in check(config) if p.path != WEAK}
    assert set(found) == {
        "dex.resources.requests.memory",
        "iap.resources.requests.memory",
        "iap.resources.limits.memory",
    }  # 128Mi is above the provider's measured peak
    assert found["iap.resources.limits.memory"].startswith(
        "render kubernetes: 50Mi is below the peak memory of this role (67 MiB measured"
    )
    assert "OOM-killed" in found["iap.resources.limits.memory"]
    objs = by_kind(render_kubernetes(config).objects)
    iap = objs[("Deployment", "iap", "iap-app")]["spec"]["template"]["spec"]["containers"][0]
    assert iap["resources"] == {"requests": {"memory": "25Mi"}, "limits": {"memory": "50Mi"}}


def test_memory_quantities() -> None:
    assert memory_mib("25Mi") == 25
    assert memory_mib("1Gi") == 1024
    assert memory_mib(134217728) == 128
    assert memory_mib("128M") == 128e6 / 2**20
    assert memory_mib("1e9") == 1e9 / 2**20
    assert memory_mib("lots") is None and memory_mib(None) is None

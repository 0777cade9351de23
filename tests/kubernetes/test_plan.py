"""The pod runner's pure part: a Deployment and the objects it names become a plan exactly as the kubelet
would run it, or a :class:`PodSpecError` naming every object and field it cannot honour. No root needed."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.kubernetes.envs import Service, expand, service_links
from tests.kubernetes.objects import Objects, PodSpecError
from tests.kubernetes.podinit import inside
from tests.kubernetes.pods import ImageConfig, PodPlan, plan_pod
from tests.kubernetes.scenario import values
from tests.kubernetes.volumes import File, parse_quantity

from idgate.config import load_config_text
from idgate.deploy.kubernetes import RenderOptions, render_kubernetes

IMAGE = ImageConfig(
    "localhost/idgate:test",
    entrypoint=("idgate",),
    cmd=("serve",),
    env=(("PATH", "/opt/idgate/bin:/usr/bin:/bin"), ("LANG", "C.UTF-8")),
    user="65532:65532",
)
Obj = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deployment(**container: Any) -> Obj:
    pod = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 3000, "runAsNonRoot": True},
        "containers": [{"name": "app", "image": IMAGE.ref, **container}],
        "volumes": [
            {"name": "config", "configMap": {"name": "cm"}},
            {
                "name": "creds",
                "secret": {"secretName": "sec", "items": [{"key": "token", "path": "t/token"}]},
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}, "spec": pod},
        },
    }


OBJECTS: list[Obj] = [
    {"kind": "Secret", "metadata": {"name": "sec", "namespace": "ns"},
     "data": {"token": b64("s3cret"), "OTHER": b64("x")}},
    {"kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"},
     "data": {"values.yaml": "a: 1\n", "MODE": "fast"}},
]  # fmt: skip


def plan(d: Obj, objects: list[Obj] | None = None, links: dict[str, str] | None = None) -> PodPlan:
    return plan_pod(
        d, objects=Objects(objects if objects is not None else OBJECTS), image=IMAGE, ip="10.0.0.10",
        host_ip="10.0.0.1", links=links or {},
    )  # fmt: skip


def problems(d: Obj, objects: list[Obj] | None = None) -> list[str]:
    with pytest.raises(PodSpecError) as caught:
        plan(d, objects)
    return caught.value.problems


def test_args_follow_the_images_entrypoint_and_replace_its_cmd() -> None:
    assert plan(deployment(args=["serve", "--role", "provider"])).argv == (
        "idgate",
        "serve",
        "--role",
        "provider",
    )
    assert plan(deployment()).argv == ("idgate", "serve")
    assert plan(deployment(command=["/bin/sh"])).argv == ("/bin/sh",)  # command drops the image's Cmd
    assert plan(deployment(command=["run"], args=["x"])).argv == ("run", "x")


def test_env_comes_from_secrets_and_configmaps_in_kubernetes_precedence() -> None:
    d = deployment(
        envFrom=[{"secretRef": {"name": "sec"}}, {"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        env=[
            {"name": "OTHER", "value": "from env wins over envFrom"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "MODE"}}},
            {"name": "URL", "value": "https://$(MODE).example/$$(MODE)/$(UNSET)"},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {"name": "LANG", "value": "de_DE.UTF-8"},
        ],
        args=["--mode", "$(MODE)"],
    )
    p = plan(d, links={"WEB_SERVICE_HOST": "10.0.0.100"})
    env = dict(p.env)
    assert env["token"] == "s3cret" and env["CM_MODE"] == "fast" and env["CM_values.yaml"] == "a: 1\n"
    assert env["OTHER"] == "from env wins over envFrom" and env["TOKEN"] == "s3cret"
    assert env["URL"] == "https://fast.example/$(MODE)/$(UNSET)"
    assert (env["NS"], env["POD"], env["TIER"]) == ("ns", p.name, "front")
    assert env["LANG"] == "de_DE.UTF-8" and env["PATH"] == "/opt/idgate/bin:/usr/bin:/bin"  # over the image's
    assert env["WEB_SERVICE_HOST"] == "10.0.0.100" and env["HOSTNAME"] == p.name
    assert p.argv == ("idgate", "--mode", "fast")


def test_service_links_can_be_turned_off_and_look_like_the_kubelets() -> None:
    d = deployment()
    d["spec"]["template"]["spec"]["enableServiceLinks"] = False
    assert "WEB_SERVICE_HOST" not in dict(plan(d, links={"WEB_SERVICE_HOST": "x"}).env)
    links = service_links([Service("dex-web", "10.0.0.100", (("http", 5556, "TCP"),))])
    assert links["DEX_WEB_SERVICE_HOST"] == "10.0.0.100" and links["DEX_WEB_SERVICE_PORT_HTTP"] == "5556"
    assert (
        links["DEX_WEB_PORT"] == "tcp://10.0.0.100:5556"
        and links["DEX_WEB_PORT_5556_TCP_ADDR"] == "10.0.0.100"
    )


def test_expand_is_kubernetes_dollar_paren_expansion() -> None:
    env = {"A": "1"}
    assert expand("$(A)-$$(A)-$(B)-$A-$-$(", env) == "1-$(A)-$(B)-$A-$-$("


def test_identity_volumes_mounts_and_probes() -> None:
    d = deployment(
        ports=[{"name": "http", "containerPort": 8080}, {"name": "health", "containerPort": 8081}],
        readinessProbe={"httpGet": {"path": "/ready", "port": "health"}, "timeoutSeconds": 3},
        livenessProbe={
            "httpGet": {"path": "/live", "port": 8080, "httpHeaders": [{"name": "Host", "value": "h"}]}
        },
        securityContext={
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsUser": 1001,
        },
        volumeMounts=[
            {"name": "config", "mountPath": "/etc/app/values.yaml", "subPath": "values.yaml"},
            {"name": "creds", "mountPath": "/run/creds", "readOnly": False},
            {"name": "tmp", "mountPath": "/tmp/"},
        ],
    )
    d["spec"]["template"]["spec"]["securityContext"]["supplementalGroups"] = [4000]
    p = plan(d)
    assert (p.uid, p.gid, p.groups) == (1001, 2000, (3000, 4000))
    assert p.no_new_privs and p.read_only_root
    assert [(m.target, m.read_only, m.sub_path) for m in p.mounts] == [
        ("/etc/app/values.yaml", True, "values.yaml"),
        ("/run/creds", True, ""),  # Secret volumes are read-only whatever the mount says
        ("/tmp", False, ""),
    ]
    volumes = {v.name: v for v in p.volumes}
    assert volumes["creds"].files == (File("t/token", b"s3cret", 0o644),)
    assert volumes["tmp"].kind == "emptyDir" and volumes["tmp"].size == 16 * 2**20
    assert {(c.kind, c.port, c.path, c.headers) for c in p.probes} == {
        ("readinessProbe", 8081, "/ready", ()),
        ("livenessProbe", 8080, "/live", (("Host", "h"),)),
    }
    assert p.ports == {"http": 8080, "health": 8081}


def test_every_object_or_field_the_runner_cannot_honour_is_named_at_once() -> None:
    d = deployment(
        envFrom=[{"secretRef": {"name": "missing"}}],
        env=[
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "nope"}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}},
            {"name": "C", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "D", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}},
        ],
        lifecycle={"preStop": {"exec": {"command": ["sleep", "5"]}}},
        livenessProbe={"tcpSocket": {"port": 80}},
        readinessProbe={"httpGet": {"path": "/", "port": "web"}},
        volumeMounts=[{"name": "undeclared", "mountPath": "/x"}],
    )
    d["spec"]["template"]["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/etc"}})
    found = "\n".join(problems(d))
    for expected in (
        "Deployment ns/web: spec.template.spec.containers[0].envFrom[0].secretRef: "
        "Secret ns/missing is not rendered",
        "env[0].valueFrom.secretKeyRef: Secret ns/sec has no key 'nope'",
        "env[2].valueFrom.resourceFieldRef: not supported",
        "env[3].valueFrom.fieldRef.fieldPath: 'status.phase' is not a field the runner answers",
        "containers[0].lifecycle: not supported",
        "livenessProbe.tcpSocket: not supported",
        "readinessProbe.httpGet.port: no container port named 'web'",
        "volumeMounts[0].name: the pod declares no volume 'undeclared'",
        "volumes[3]: volume 'host': hostPath is not supported",
    ):
        assert expected in found, found
    assert "env[1]" not in found  # an optional reference to a missing Secret is no problem


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["spec"]["template"]["spec"].pop("automountServiceAccountToken"),
            "there is no API server",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsUser=0),
            "would run as uid 0",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="other:1"),
            "is not 'localhost/",
        ),
        (lambda d: d["spec"]["template"]["spec"]["containers"].append({"name": "b"}), "runs exactly one"),
        (lambda d: d["spec"]["selector"]["matchLabels"].update(app="other"), "does not select the template"),
        (lambda d: d["spec"]["template"]["spec"].update(hostNetwork=True), "hostNetwork: not supported"),
        (
            lambda d: d["spec"]["template"]["spec"]["securityContext"].pop("runAsGroup"),
            "does not read the image",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["volumes"][0]["configMap"].update(name="x"),
            "ConfigMap ns/x",
        ),
    ],
)
def test_a_spec_that_cannot_start_fails(change: Any, expected: str) -> None:
    d = deployment()
    if "does not read the image" in expected:
        d["spec"]["template"]["spec"]["securityContext"].pop("runAsUser")
        image_without_group = ImageConfig(IMAGE.ref, IMAGE.entrypoint, IMAGE.cmd, IMAGE.env, user="65532")
        change(d)
        with pytest.raises(PodSpecError, match=expected):
            plan_pod(d, objects=Objects(OBJECTS), image=image_without_group, ip="x", host_ip="y", links={})
        return
    change(d)
    assert any(expected in p for p in problems(d)), problems(d)


def test_a_secret_that_is_not_base64_fails_naming_its_key() -> None:
    broken = copy.deepcopy(OBJECTS)
    broken[0]["data"]["token"] = "not base64!"
    assert "Secret ns/sec: data.token: not base64" in "\n".join(problems(deployment(), broken))


def test_quantities() -> None:
    assert [parse_quantity(q) for q in ("16Mi", "1Gi", "500M", "1024", "1.5Ki", "lots")] == [
        16 * 2**20, 2**30, 500 * 10**6, 1024, 1536, None,
    ]  # fmt: skip


def _rendered() -> tuple[list[Obj], ImageConfig]:
    config = load_config_text(yaml.safe_dump(values("abc123", "db")), env={})
    objects = render_kubernetes(config, RenderOptions(image=IMAGE.ref)).objects
    return objects, IMAGE


def test_every_rendered_deployment_plans_and_a_missing_rendered_secret_fails_it() -> None:
    objects, image = _rendered()
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert len(deployments) == 3
    for d in deployments:
        p = plan_pod(d, objects=Objects(objects), image=image, ip="10.0.0.10", host_ip="10.0.0.1", links={})
        assert p.argv[:2] == ("idgate", "serve") and p.uid == 65532 and p.read_only_root
        assert "IDGATE_STORAGE" in dict(p.env) or "IDGATE_SESSIONS" in dict(p.env)
    without = [o for o in objects if (o["kind"], o["metadata"]["name"]) != ("Secret", "dex-secret")]
    dex = next(d for d in deployments if d["metadata"]["name"] == "dex")
    with pytest.raises(
        PodSpecError, match=r"Deployment oauth/dex: .*envFrom\[0\]\.secretRef: Secret oauth/dex-secret"
    ):
        plan_pod(dex, objects=Objects(without), image=image, ip="x", host_ip="y", links={})


def test_paths_in_the_image_resolve_symlinks_inside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")  # absolute: means <root>/run, never the host's /run
    (root / "etc" / "up").symlink_to("../../../..")
    assert inside(str(root), "/var/run/idgate") == f"{root}/run/idgate"
    assert inside(str(root), "/etc/up/etc/passwd") == f"{root}/etc/passwd"
    assert inside(str(root), "/../../tmp") == f"{root}/tmp"

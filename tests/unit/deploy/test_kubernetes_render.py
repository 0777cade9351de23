"""``render_kubernetes``: the charts' objects (kkp-values.md §1.3, §2.4), valid for Kubernetes, and pods
that read back exactly the settings the values file describes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.unit.deploy.support import (
    INPUTS,
    by_kind,
    check_golden,
    documents,
    load,
    secret_env,
    validate,
)

from idgate.config import build_settings, load_config, load_config_text
from idgate.deploy.common import dump_all
from idgate.deploy.kubernetes import RenderOptions, render_kubernetes
from idgate.deploy.sizes import MEASURED
from idgate.errors import ConfigError
from idgate.runtime.roles import select_role


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_every_object_is_valid_for_the_pinned_kubernetes_version(name: str) -> None:
    for obj in render_kubernetes(load(name), RenderOptions(certificates=True)).objects:
        validate(obj)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_render_matches_the_golden_file(name: str) -> None:
    text = dump_all(render_kubernetes(load(name)).objects)
    assert documents(text)  # it parses back as YAML
    check_golden(f"{name}.kubernetes.yaml", text)


def test_the_kkp_example_renders_what_the_charts_create() -> None:
    objects = render_kubernetes(load("kkp-example"), RenderOptions(certificates=True)).objects
    names = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects}
    assert {
        ("ServiceAccount", "oauth", "dex"),
        ("ConfigMap", "oauth", "dex"),
        ("Secret", "oauth", "dex-secret"),
        ("Deployment", "oauth", "dex"),
        ("Service", "oauth", "dex"),
        ("Ingress", "oauth", "dex"),
        ("Certificate", "oauth", "dex"),
        ("PodDisruptionBudget", "oauth", "dex"),
    } <= names
    for n in ("prometheus", "alertmanager", "grafana"):
        assert {
            ("Secret", "iap", f"iap-{n}-secret"),
            ("ConfigMap", "iap", f"iap-{n}-configmap"),
            ("Deployment", "iap", f"iap-{n}"),
            ("Service", "iap", f"{n}-iap"),
            ("Ingress", "iap", f"{n}-iap"),
            ("PodDisruptionBudget", "iap", f"iap-{n}"),
            ("Certificate", "iap", n),
        } <= names
    assert len(objects) == 8 + 3 * 7


def test_proxy_objects_carry_the_charts_labels_ports_and_defaults() -> None:
    objs = by_kind(render_kubernetes(load("kkp-example")).objects)
    dep = objs[("Deployment", "iap", "iap-prometheus")]
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "iap", "target": "prometheus"}
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][-4:] == ["--role", "proxy", "--deployment", "prometheus"]
    assert {"name": "http", "containerPort": 3000, "protocol": "TCP"} in container["ports"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/oauth/healthy"
    assert container["livenessProbe"]["httpGet"]["httpHeaders"] == [
        {"name": "Host", "value": "prometheus.kkp.example.com"}
    ]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "health"}
    assert container["name"] == "oauth2-proxy"  # the chart's: kubectl apply replaces its container
    assert container["resources"] == MEASURED["iap"].rendered  # not the chart's 50m/25Mi
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64 and len(annotations["checksum/secrets"]) == 64
    svc = objs[("Service", "iap", "prometheus-iap")]
    assert svc["metadata"]["labels"]["kind"] == "proxy"
    assert svc["spec"]["ports"] == [{"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}]
    ing = objs[("Ingress", "iap", "prometheus-iap")]
    assert ing["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-prod",
        "ingress.kubernetes.io/upstream-hash-by": "ip_hash",
    }
    assert ing["spec"]["tls"] == [{"secretName": "prometheus-tls", "hosts": ["prometheus.kkp.example.com"]}]
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert objs[("PodDisruptionBudget", "iap", "iap-prometheus")]["spec"]["maxUnavailable"] == 1
    secret = secret_env(objs[("Secret", "iap", "iap-prometheus-secret")])
    assert set(secret) == {
        "OAUTH2_PROXY_CLIENT_ID",
        "OAUTH2_PROXY_CLIENT_SECRET",
        "OAUTH2_PROXY_COOKIE_SECRET",
        "IDGATE_STORAGE",  # PostgreSQL: the replicas share the list of signed-out sessions there
    }


def test_secrets_are_only_in_secrets() -> None:
    config = load("maximal")
    text = dump_all([o for o in render_kubernetes(config).objects if o["kind"] != "Secret"])
    for secret in (
        "Xk4pQ9sLmT2vW8zR1yB6nC3dF7gH5jK0",
        "9c2e7a1d5f3b8c0e4a6d2f9b1c7e3a5d",
        "0d4a8e2c6b1f9d3a7e5c0b8f2a6d4c1e",  # a previous encryption key
        "s3cr$t-bind",
        "hunter2",
        "pa$word",
        "$2a$10$zMJhg",
    ):
        assert secret not in text


def _pods(objects: list[dict[str, Any]]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(values.yaml, args, env) of every Deployment, as the kubelet would put them together."""
    objs = by_kind(objects)
    out = []
    for (kind, ns, _), obj in objs.items():
        if kind != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        container = pod["containers"][0]
        cm_name = next(v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v)
        env: dict[str, str] = {}
        for ref in container["envFrom"]:
            secret = objs.get(("Secret", ns, ref["secretRef"]["name"]))
            env |= secret_env(secret) if secret else {}
        out.append((objs[("ConfigMap", ns, cm_name)]["data"]["values.yaml"], container["args"], env))
    return out


EXISTING = {  # what the maximal file's grafana existingSecret holds (the chart's keys)
    "OAUTH2_PROXY_CLIENT_ID": "grafana",
    "OAUTH2_PROXY_CLIENT_SECRET": "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN",
    "OAUTH2_PROXY_COOKIE_SECRET": "9c2e7a1d5f3b8c0e4a6d2f9b1c7e3a5d",
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_each_pod_reads_back_exactly_its_roles_settings(name: str) -> None:
    config = load(name)
    full = build_settings(config)
    pods = _pods(render_kubernetes(config).objects)
    assert len(pods) == 1 + len(full.proxies)
    for values, args, pod_env in pods:
        role = args[args.index("--role") + 1]
        deployment = args[args.index("--deployment") + 1] if "--deployment" in args else None
        env = {**EXISTING, **pod_env} if deployment == "grafana" and name == "maximal" else pod_env
        got = select_role(build_settings(load_config_text(values, env=env)), role, deployment)
        want = select_role(full, role, deployment)
        assert got.provider == want.provider
        assert got.proxies == want.proxies
        assert got.listen.startswith("0.0.0.0:") and got.health_listen == "0.0.0.0:8081"
        if role == "provider" and config.idgate.storage:
            assert got.storage == config.idgate.storage
        if role == "proxy":
            assert got.sessions == config.idgate.sessions


def test_sqlite_with_several_provider_replicas_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError) as err:
        render_kubernetes(load_config(INPUTS["kkp-example"][0], env={}))
    (problem,) = [p for p in err.value.problems if p.severity == "error"]  # and the replicas' warning
    assert problem.path == "idgate.storage"
    assert "dex.replicas: 2" in problem.message and "postgresql://" in problem.message


def test_sqlite_with_one_replica_lives_in_an_emptydir() -> None:
    objs = by_kind(render_kubernetes(load("minimal")).objects)
    pod = objs[("Deployment", "oauth", "dex")]["spec"]["template"]["spec"]
    assert {"name": "data", "emptyDir": {}} in pod["volumes"]
    env = secret_env(objs[("Secret", "oauth", "dex-secret")])
    assert env["IDGATE_STORAGE"] == "sqlite:////var/lib/idgate/idgate.db"


def test_a_config_change_changes_only_that_workloads_checksum() -> None:
    before = by_kind(render_kubernetes(load("kkp-example")).objects)
    path, sets = INPUTS["kkp-example"]
    changed = load_config(path, sets=(*sets, "iap.deployments.grafana.upstream_port=3001"), env={})
    after = by_kind(render_kubernetes(changed).objects)

    def sums(objs: dict[Any, Any], name: str) -> dict[str, str]:
        return dict(objs[("Deployment", "iap", name)]["spec"]["template"]["metadata"]["annotations"])

    assert sums(before, "iap-grafana") != sums(after, "iap-grafana")
    assert sums(before, "iap-prometheus") == sums(after, "iap-prometheus")


def test_maximal_options_reach_the_objects() -> None:
    objs = by_kind(render_kubernetes(load("maximal")).objects)
    dex = objs[("Deployment", "oauth", "dex")]
    container = dex["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/idgate:1.2.3"
    assert container["livenessProbe"]["httpGet"]["path"] == "/auth/healthz"
    assert {"name": "TZ", "value": "Europe/Berlin"} in container["env"]
    ing = objs[("Ingress", "oauth", "dex")]
    assert ing["metadata"]["annotations"]["cert-manager.io/issuer"] == "acme-staging"
    assert ing["spec"]["ingressClassName"] == "internal-nginx"
    grafana = objs[("Deployment", "iap", "iap-grafana")]
    gpod = grafana["spec"]["template"]["spec"]
    assert grafana["spec"]["replicas"] == 1
    assert gpod["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "grafana-iap-credentials"}},
        {"secretRef": {"name": "iap-grafana-secret"}},
    ]
    assert set(secret_env(objs[("Secret", "iap", "iap-grafana-secret")])) == {"IDGATE_SESSIONS"}
    assert {
        "name": "provider-ca",
        "mountPath": "/etc/ssl/certs/ca.crt",
        "subPath": "ca.crt",
        "readOnly": True,
    } in (gpod["containers"][0]["volumeMounts"])
    term = gpod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"] == {"app": "iap", "target": "grafana"}
    gi = objs[("Ingress", "iap", "grafana-iap")]
    assert "cert-manager.io/cluster-issuer" not in gi["metadata"].get("annotations", {})
    assert gi["spec"]["tls"][0]["secretName"] == "wildcard-tls"
    policy = objs[("NetworkPolicy", "monitoring", "iap-prometheus-upstream")]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prometheus",
        "prometheus": "k8s",
    }
    peer = policy["spec"]["ingress"][0]["from"][0]
    assert peer["podSelector"]["matchLabels"] == {"app": "iap", "target": "prometheus"}
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "iap"}


def test_network_policy_without_selectors_names_what_is_missing() -> None:
    path, sets = INPUTS["kkp-example"]
    config = load_config(path, sets=(*sets, "idgate.kubernetes.networkPolicy=true"), env={})
    with pytest.raises(ConfigError) as err:
        render_kubernetes(config)
    assert [p.path for p in err.value.problems] == ["idgate.kubernetes.upstreamSelectors"] * 3
    assert "'alertmanager' has no entry" in err.value.problems[0].message


def test_namespaces_and_ingress_class_non_existent() -> None:
    path, sets = INPUTS["kkp-example"]
    config = load_config(path, sets=(*sets, "dex.ingress.class=non-existent"), env={})
    objects = render_kubernetes(config, RenderOptions("sso", "proxies")).objects
    assert {o["metadata"]["namespace"] for o in objects} == {"sso", "proxies"}
    assert not [o for o in objects if o["kind"] == "Ingress" and o["metadata"]["name"] == "dex"]


def test_the_rendered_values_file_is_plain_yaml_with_references() -> None:
    objs = by_kind(render_kubernetes(load("maximal")).objects)
    values = yaml.safe_load(objs[("ConfigMap", "oauth", "dex")]["data"]["values.yaml"])
    assert values["dex"]["frontend"] == {"issuer": "ACME $$SSO", "theme": "dark"}
    assert values["dex"]["theme"] == {"logo.svg": "PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4="}
    assert values["dex"]["connectors"][0]["config"]["bindPW"] == "${IDGATE_DEX_CONNECTORS_0_CONFIG_BINDPW}"
    assert values["idgate"]["storage"] == "${IDGATE_STORAGE}"
    assert "image" not in values["dex"] and "resources" not in values["dex"]


def test_a_dex_theme_is_used_so_the_render_does_not_warn_about_it() -> None:
    config = load("maximal")
    assert config.dex is not None and config.dex.theme
    assert not [w for w in render_kubernetes(config).warnings if "theme" in w.path]


def test_proxy_replicas_share_sign_outs_through_postgresql_or_are_warned_about() -> None:
    """Issue 18: cookie-session proxy pods get ``idgate.storage`` when it is PostgreSQL (their shared
    revocation list); on SQLite they cannot share it, and the render warns, counting the chart's default
    of 2 replicas too."""
    config = load("kkp-example")
    rendered = render_kubernetes(config)
    values = yaml.safe_load(
        by_kind(rendered.objects)[("ConfigMap", "iap", "iap-grafana-configmap")]["data"]["values.yaml"]
    )
    assert values["idgate"]["storage"] == "${IDGATE_STORAGE}"
    assert not [w for w in rendered.warnings if "revocation" in w.message]
    path, _ = INPUTS["kkp-example"]
    sqlite = ("idgate.storage=sqlite:///var/lib/idgate/idgate.db", "dex.replicas=1")
    on_sqlite = render_kubernetes(load_config(path, sets=sqlite, env={}))
    values = yaml.safe_load(
        by_kind(on_sqlite.objects)[("ConfigMap", "iap", "iap-grafana-configmap")]["data"]["values.yaml"]
    )
    assert "storage" not in values["idgate"]
    [warning] = [w for w in on_sqlite.warnings if "revocation" in w.message]
    assert warning.path == "iap.replicas" and warning.message.startswith("2 replicas of ")


@pytest.mark.parametrize("where", ["config", "default_configuration"])
def test_a_redis_password_in_the_proxy_options_goes_to_the_secret(where: str) -> None:
    """``redis_connection_url`` may carry a password, in a deployment's ``config`` or in
    ``iap.default_configuration``: the ConfigMap holds a reference, the Secret the URL, and the pod reads
    back the same session store."""
    path, _ = INPUTS["minimal"]
    url = "rediss://user:s3ss10n-pa55@redis.db.svc.cluster.local:6380/2"
    line = f'redis_connection_url: "{url}"'
    domains = '        email_domains: ["*"]\n'
    text = path.read_text().replace(domains, f"{domains}        {line}\n")
    if where == "default_configuration":
        text = path.read_text().replace("iap:\n", f"iap:\n  default_configuration: {{{line}}}\n")
    config = load_config_text(text, env={})
    rendered = render_kubernetes(config).objects
    assert "s3ss10n-pa55" not in dump_all([o for o in rendered if o["kind"] != "Secret"])
    ((values, env),) = [(v, e) for v, a, e in _pods(rendered) if "--deployment" in a]
    got = select_role(build_settings(load_config_text(values, env=env)), "proxy", "app")
    assert got.proxies == select_role(build_settings(config), "proxy", "app").proxies
    assert [p.session_store for p in got.proxies] == [url]

"""The rendered manifests run, from the image ``make image`` built, as their pod specs say.

``idgate render kubernetes --image REF`` renders the provider, two proxy deployments, PostgreSQL storage
and Redis sessions (:mod:`.scenario`); then each Deployment's container runs from the archive's layers in
a pod of its own (:mod:`.cluster`: network namespace, PID/mount/UTS namespaces, read-only root, the spec's
uid/gid, its env from the rendered Secrets, its volumes). Services and Ingress hosts answer at addresses of
their own, relayed to the pods. A pod spec that cannot start fails here, whichever object is wrong.

Needs root, iproute2 and util-linux, PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379, and the
image archive (``make image``); it fails, never skips, without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import pytest
import yaml
from redis import Redis
from redis.exceptions import RedisError
from tests.e2e.browser import Browser
from tests.e2e.harness import EMAIL, PASSWORD, Upstream, recording_upstream
from tests.kubernetes.cluster import Cluster, probe, run_cluster
from tests.kubernetes.image import find_archive, image_tree, read_image
from tests.kubernetes.netns import require_tools
from tests.kubernetes.objects import Objects
from tests.kubernetes.runtime import RunningPod
from tests.kubernetes.scenario import (
    POSTGRES,
    REDIS,
    REDIS_DB,
    UPSTREAM,
    UPSTREAM_PORT,
    render,
    values,
)

from idgate.net import LocalResolver

pytestmark = pytest.mark.e2e

ADMIN_URL = os.environ.get("IDGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@dataclass
class Deployed:
    cluster: Cluster
    objects: Objects
    upstream: Upstream
    run: str
    database: str


async def _admin(*statements: str) -> list[str]:
    """Run ``statements`` on the PostgreSQL server; the names of this test's databases (before them)."""
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        raise AssertionError(f"PostgreSQL is required at {ADMIN_URL} and is unreachable: {exc}") from None
    try:
        rows = await conn.fetch(r"SELECT datname FROM pg_database WHERE datname LIKE 'idgate\_pods\_%'")
        for sql in statements:
            await conn.execute(sql)
        return [r["datname"] for r in rows]
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


@contextlib.contextmanager
def fresh_database(run: str) -> Iterator[str]:
    """``idgate_pods_<pid>_<run>``, dropped afterwards; databases of runs whose process died go first."""
    owners = {n: re.fullmatch(r"idgate_pods_([0-9a-f]+)_[0-9a-f]+", n) for n in asyncio.run(_admin())}
    stale = [n for n, m in owners.items() if m and not _alive(int(m.group(1), 16))]
    name = f"idgate_pods_{os.getpid():x}_{run}"
    drops = [f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in stale]
    asyncio.run(_admin(*drops, f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def redis() -> Redis:
    client = Redis(host="127.0.0.1", port=6379, db=REDIS_DB, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except RedisError as exc:
        raise AssertionError(f"Redis is required at 127.0.0.1:6379 and is unreachable: {exc}") from None
    return client


def forget_sessions(run: str) -> None:
    client = redis()
    for key in client.scan_iter(match=f"idgate:*-{run}:*"):
        client.delete(key)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    require_tools()
    archive = find_archive()
    image = read_image(archive)
    work = tmp_path_factory.mktemp("pods")
    image_root = image_tree(archive)
    run = secrets.token_hex(3)
    redis()
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(fresh_database(run))
        stack.callback(forget_sessions, run)
        config = work / "values.yaml"
        config.write_text(yaml.safe_dump(values(run, database)))
        objects = Objects(render(config, image.ref))
        upstream = stack.enter_context(recording_upstream())
        externals = {
            POSTGRES: {5432: ("127.0.0.1", 5432)},
            REDIS: {6379: ("127.0.0.1", 6379)},
            UPSTREAM: {UPSTREAM_PORT: ("127.0.0.1", upstream.port)},
        }
        cluster = stack.enter_context(
            run_cluster(objects, image=image, image_root=image_root, work=work, externals=externals)
        )
        yield Deployed(cluster, objects, upstream, run, database)


def test_every_deployment_runs_one_pod_and_its_probes_pass_on_the_rendered_ports(deployed: Deployed) -> None:
    pods = deployed.cluster.pods
    assert {p.plan.deployment for p in pods} == {
        f"Deployment {d['metadata']['namespace']}/{d['metadata']['name']}"
        for d in deployed.objects.of_kind("Deployment")
    }
    assert len(pods) == 3  # the provider and two proxy deployments
    for pod in pods:
        kinds = {c.kind for c in pod.plan.probes}
        assert {"readinessProbe", "livenessProbe"} <= kinds, pod.plan.deployment
        for check in pod.plan.probes:
            passed, answer = probe(pod, check)
            assert passed, f"{pod.plan.name} {check.kind} {check.path} on {check.port}: {answer}"


def _status(pod: RunningPod) -> dict[str, str]:
    pid = pod.pid1()
    assert pid is not None, f"{pod.plan.name} is not running:\n{pod.output()}"
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _mounts(pid: int) -> dict[str, tuple[str, str]]:
    """Mount point -> (options, file system type), as the pod sees them."""
    out = {}
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        out[fields[4]] = (fields[5], right.split()[0])
    return out


def test_each_pod_runs_as_its_spec_says(deployed: Deployed) -> None:
    for pod in deployed.cluster.pods:
        plan, status = pod.plan, _status(pod)
        pid = int(status["Pid"])
        assert status["Uid"].split() == [str(plan.uid)] * 4 and plan.uid == 65532
        assert status["Gid"].split() == [str(plan.gid)] * 4
        assert status["Groups"].split() == [str(g) for g in plan.groups]
        assert status["NoNewPrivs"] == "1" and status["CapEff"] == "0000000000000000"
        mounts = _mounts(pid)
        assert mounts["/"][0].startswith("ro"), "the image's root is read-only"
        with pytest.raises(OSError, match="Read-only file system"):
            Path(f"/proc/{pid}/root/opt/idgate/written-by-the-test").write_text("x")
        for m in plan.mounts:
            assert mounts[m.target][0].startswith("ro" if m.read_only else "rw"), (plan.name, m)
        assert mounts["/tmp"][1] == "tmpfs"
        env = dict(
            item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if item
        )
        assert env == dict(plan.env)
        for ref in _env_from_secrets(deployed.objects, plan.deployment):
            data = deployed.objects.data("Secret", plan.namespace, ref) or {}
            assert data and all(env[k] == v.decode() for k, v in data.items()), ref
        cmdline = Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
        assert cmdline[-len(plan.argv) + 1 :] == list(plan.argv[1:]) and "serve" in plan.argv
        hostname = subprocess.run(
            ["nsenter", "-t", str(pid), "--uts", "hostname"], capture_output=True, text=True, check=True
        )
        assert hostname.stdout.strip() == plan.name


def _env_from_secrets(objects: Objects, deployment: str) -> list[str]:
    namespace, name = deployment.split(" ", 1)[1].split("/")
    d = objects.get("Deployment", namespace, name)
    assert d is not None
    container = d["spec"]["template"]["spec"]["containers"][0]
    return [s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s]


async def test_a_person_signs_in_through_the_provider_pod_and_a_proxy_pod(deployed: Deployed) -> None:
    topology, upstream, run = deployed.cluster.topology, deployed.upstream, deployed.run
    upstream.clear()
    async with Browser(resolver=LocalResolver(topology.resolver_overrides())) as b:
        first = await b.get("http://alpha.pods.test/graph?g0.expr=up")
        page = first[-1]
        assert page.status == 200 and "password" in page.body.lower(), [(h.url, h.status) for h in first]
        assert urlsplit(page.url).hostname == "kkp.pods.test"
        hops = await b.submit(page, {"login": EMAIL, "password": PASSWORD})
        assert hops[-1].status == 200, [(h.url, h.status, h.body[:200]) for h in hops]
        assert hops[-1].url == "http://alpha.pods.test/graph?g0.expr=up"
        # the provider's single sign-on: the second deployment needs no password, only a redirect round
        beta = await b.get("http://beta.pods.test/")
        assert beta[-1].status == 200 and beta[-1].url == "http://beta.pods.test/", [
            (h.url, h.status) for h in beta
        ]
    for hop in [*first, *hops, *beta]:
        url = urlsplit(hop.url)
        assert topology.ingress_allows(url.hostname or "", url.path), f"no Ingress routes {hop.url}"
    seen = {s.target: s.headers for s in upstream.seen}
    assert seen["/graph?g0.expr=up"]["X-Forwarded-Email"] == EMAIL
    assert seen["/"]["X-Forwarded-Email"] == EMAIL
    sessions = {k.decode() for k in redis().scan_iter(match=f"idgate:*-{run}:s:*")}
    assert {re.sub(r":s:.*", "", k) for k in sessions} == {f"idgate:alpha-{run}", f"idgate:beta-{run}"}
    assert deployed.cluster.relays.failures == []


async def test_the_provider_keeps_its_state_in_the_fresh_postgresql_database(deployed: Deployed) -> None:
    conn = await asyncpg.connect(ADMIN_URL.rsplit("/", 1)[0] + "/" + deployed.database, timeout=5)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await conn.close()
    assert len(tables) > 3, "the provider pod migrated the database it was given"


def test_every_pod_stops_on_sigterm_within_its_grace_period(deployed: Deployed) -> None:
    deployed.cluster.stop()
    slow = {name: took for name, took in deployed.cluster.stopped.items() if took is None or took > 5}
    assert not slow, f"pods that did not exit within 5 s of SIGTERM (None: killed): {slow}"

"""Start and stop a planned pod: the kubelet's side of the work (files on the host), then :mod:`.podinit`.

For each pod, under its directory ``POD_DIR``:

- ``volumes/<name>/``: the ConfigMap and Secret files (owner root, group ``fsGroup``, their modes);
- ``etc/hosts``, ``etc/hostname``, ``etc/resolv.conf`` (no name server: only ``/etc/hosts`` answers);
- ``launch.json``: what :mod:`.podinit` needs; ``pod.log``: the container's stdout and stderr.

Claims (``persistentVolumeClaim``) are directories under ``CLAIMS/<namespace>-<claim>`` kept for the run.
The runtime is started under ``setpriv --pdeathsig KILL``: if the test process dies, unshare dies, its
``--kill-child`` kills the pod's PID 1, and with it every process of the pod.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.kubernetes.pods import PodPlan

__all__ = ["RunningPod", "start_pod"]

PODINIT = Path(__file__).with_name("podinit.py")
RESOLV = "# no cluster DNS server: names come from /etc/hosts\noptions ndots:5 attempts:1 timeout:1\n"


def _write_volumes(plan: PodPlan, pod_dir: Path, claims: Path) -> list[dict[str, object]]:
    group = plan.groups[0] if plan.groups else 0  # fsGroup comes first
    out: list[dict[str, object]] = []
    for volume in plan.volumes:
        entry: dict[str, object] = {"name": volume.name, "tmpfs": None, "source": ""}
        if volume.kind == "files":
            root = pod_dir / "volumes" / volume.name
            root.mkdir(parents=True)
            for f in volume.files:
                path = root / f.path
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f.data)
                os.chown(path, 0, group)
                path.chmod(f.mode)
            entry["source"] = str(root)
        elif volume.kind == "emptyDir":
            size = f",size={volume.size}" if volume.size else ""
            entry["tmpfs"] = f"mode=2777,gid={group}{size}"
        else:
            root = claims / f"{plan.namespace}-{volume.claim}"
            root.mkdir(parents=True, exist_ok=True)
            os.chown(root, 0, group)
            root.chmod(0o2775)
            entry["source"] = str(root)
        out.append(entry)
    return out


@dataclass
class RunningPod:
    plan: PodPlan
    process: subprocess.Popen[bytes]
    log: Path

    def output(self, tail: int = 4000) -> str:
        text = self.log.read_text(errors="replace")
        return text[-tail:]

    def pid1(self) -> int | None:
        """The pod's PID 1 as the host sees it (unshare's child)."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def stop(self, grace: float) -> float | None:
        """SIGTERM to the pod's PID 1, SIGKILL after ``grace`` seconds, as the kubelet; the seconds it took
        to exit after SIGTERM, or ``None`` when it had to be killed."""
        if self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        pid = self.pid1()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
            return time.monotonic() - started
        except subprocess.TimeoutExpired:
            self.process.kill()  # unshare --kill-child: the pod's PID 1, then the whole PID namespace
            self.process.wait(timeout=10)
            return None


def start_pod(
    plan: PodPlan, *, image_root: Path, pod_dir: Path, netns: str, hosts: str, claims: Path
) -> RunningPod:
    """Write the pod's files and start it in ``netns``; returns at once (probes tell when it is ready)."""
    (pod_dir / "etc").mkdir(parents=True)
    (pod_dir / "root").mkdir()
    (pod_dir / "layer").mkdir()
    (pod_dir / "etc" / "hosts").write_text(hosts)
    (pod_dir / "etc" / "hostname").write_text(plan.name + "\n")
    (pod_dir / "etc" / "resolv.conf").write_text(RESOLV)
    launch = {
        "pod_dir": str(pod_dir),
        "image": str(image_root),
        "hostname": plan.name,
        "volumes": _write_volumes(plan, pod_dir, claims),
        "mounts": [
            {"volume": m.volume, "target": m.target, "read_only": m.read_only, "sub_path": m.sub_path}
            for m in plan.mounts
        ],
        "read_only_root": plan.read_only_root,
        "workdir": plan.workdir,
        "uid": plan.uid,
        "gid": plan.gid,
        "groups": list(plan.groups),
        "no_new_privs": plan.no_new_privs,
        "argv": list(plan.argv),
        "env": [list(kv) for kv in plan.env],
    }
    (pod_dir / "launch.json").write_text(json.dumps(launch, indent=1))
    (pod_dir / "launch.json").chmod(0o600)
    log = pod_dir / "pod.log"
    command = [
        "setpriv", "--pdeathsig", "KILL",
        "nsenter", f"--net=/run/netns/{netns}", "--",
        "unshare", "--mount", "--pid", "--uts", "--fork", "--kill-child=SIGKILL",
        sys.executable, "-I", str(PODINIT), str(pod_dir / "launch.json"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return RunningPod(plan, process, log)

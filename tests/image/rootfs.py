"""The image's root file system, for tests that run what the image runs without a container engine.

``unpack(archive, dest)`` applies the archive's layers in order (the image's own manifest, through
``index.json``) into ``dest`` and returns it. ``command(rootfs, argv, ...)`` is the argv that runs a program
of that tree the way a pod does: a private mount namespace, the tree bind-mounted **read-only**, ``/proc``,
``/dev`` and writable ``tmpfs`` (``/tmp`` and what the caller asks for) inside, no new privileges
(``setpriv``), then ``nsenter --root --wd --setuid --setgid``: chroot, working directory, the image's user
with no supplementary groups and no capabilities. Needs root (the tests run as root).

The layers make no whiteouts (``deploy/image/layout.py``), so none are handled here: a layer entry
named ``.wh.*`` fails loudly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def archive_path() -> Path:
    """Where ``make image`` writes the archive (``dist/idgate-image-VERSION.tar``)."""
    from deploy.image.build import archive_path as where

    return where()


def read_json(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.extractfile(name)
    if member is None:
        raise AssertionError(f"{name} is not a file in the archive")
    return json.load(member)


def manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    """The image manifest that ``index.json`` names (the archive holds one image)."""
    index = read_json(tar, "index.json")
    (entry,) = index["manifests"]
    found: dict[str, Any] = read_json(tar, blob(entry["digest"]))
    return found


def config(tar: tarfile.TarFile) -> dict[str, Any]:
    found: dict[str, Any] = read_json(tar, blob(manifest(tar)["config"]["digest"]))
    return found


def blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def unpack(archive: Path, dest: Path) -> Path:
    """The image's file system in ``dest`` (created), layer after layer, owners and modes kept."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as outer:
        for layer in manifest(outer)["layers"]:
            content = outer.extractfile(blob(layer["digest"]))
            if content is None:
                raise AssertionError(f"layer {layer['digest']} is missing")
            with tarfile.open(fileobj=content, mode="r|*") as inner:
                for member in inner:
                    if Path(member.name).name.startswith(".wh."):
                        raise AssertionError(f"whiteout {member.name}: unpack() does not apply them")
                    inner.extract(member, dest, numeric_owner=True, **_trusted())
    return dest


def _trusted() -> dict[str, Any]:
    # The image's links may be absolute (/etc/localtime): the "data" filter would refuse them.
    return {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def command(
    rootfs: Path,
    argv: Sequence[str],
    *,
    uid: int = 65532,
    gid: int = 65532,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    tmpfs: Sequence[str] = ("/tmp",),
    binds: Mapping[str, Path] | None = None,
) -> list[str]:
    """``argv`` run inside ``rootfs`` as a pod runs it: read-only root, ``tmpfs`` directories writable
    (like ``emptyDir``), ``binds`` (image path -> host file or directory, read-only: ConfigMaps, Secrets),
    ``uid``/``gid`` with no other groups, only ``env`` in the environment (``PATH`` is the image's unless
    given). Their mount points are made in ``rootfs`` first (:func:`mount_point`)."""
    for where in tmpfs:
        mount_point(rootfs, where, directory=True)
    for where, source in (binds or {}).items():
        mount_point(rootfs, where, directory=source.is_dir())
    top = shlex.quote(str(rootfs))
    steps = [
        f"mount --bind {top} {top}",
        f"mount --make-private {top}",
        f"mount -t proc proc {top}/proc",
        f"mount --rbind /dev {top}/dev",
    ]
    for where in tmpfs:
        steps.append(f"mount -t tmpfs -o mode=1777,size=64m tmpfs {top}{shlex.quote(where)}")
    for where, source in (binds or {}).items():
        target = f"{top}{shlex.quote(where)}"
        steps.append(f"mount --bind {shlex.quote(str(source))} {target}")
        steps.append(f"mount -o remount,bind,ro {target}")
    steps.append(f"mount -o remount,bind,ro {top}")
    environment = {"PATH": "/opt/idgate/bin:/usr/local/bin:/usr/bin:/bin", **(env or {})}
    run = [
        "exec env -i",
        *[shlex.quote(f"{k}={v}") for k, v in environment.items()],
        "setpriv --no-new-privs",  # allowPrivilegeEscalation: false
        f"nsenter --root={top} --wd={top}{shlex.quote(cwd)} --setuid={uid} --setgid={gid} --",
        *map(shlex.quote, argv),
    ]
    script = " && ".join([*steps, " ".join(run)])
    return ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script]


def spawn(argv: Sequence[str], **popen: Any) -> subprocess.Popen[str]:
    """:func:`command`'s argv started in its own process group, so that :func:`stop` reaches the program
    (``unshare`` forks it; ``nsenter`` changing the user clears any parent-death signal)."""
    return subprocess.Popen(argv, start_new_session=True, text=True, **popen)


def stop(process: subprocess.Popen[str], timeout: float = 30) -> None:
    """SIGTERM to the whole group (as a pod's stop does), SIGKILL if it is still there after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def mount_point(rootfs: Path, where: str, *, directory: bool) -> Path:
    """``where`` (a path in the image) made to exist in ``rootfs`` as a runtime makes a volume's mount
    point in its writable layer; links on the way are resolved inside ``rootfs``, never on the host."""
    from deploy.image.debian import inside

    path = inside(rootfs, where, follow_last=True)
    if directory:
        path.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return path

"""The container runtime's last step, run as PID 1 of a fresh pod (standard library only)::

    nsenter --net=/run/netns/NS -- unshare --mount --pid --uts --fork --kill-child=SIGKILL \\
        python -I podinit.py POD_DIR/launch.json

In the pod's own mount namespace it lays out the root, as runc does for a Kubernetes container:

1. the image's unpacked layers read-only below an overlay whose writable layer is a tmpfs (it only holds
   the mount points the image lacks, and vanishes with the pod);
2. ``/proc`` (this pod's PID namespace), ``/dev`` (a tmpfs with null, zero, full, random, urandom, tty and a
   ``/dev/shm`` tmpfs), ``/sys`` read-only;
3. each volume mount: ConfigMap and Secret files and claim directories bound from the pod's directory,
   ``emptyDir`` a tmpfs; ``subPath`` binds one entry; read-only where the plan says;
4. ``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf`` bound from the pod's directory (as the kubelet
   does);
5. the root remounted read-only when ``readOnlyRootFilesystem``;

then sets the hostname, chroots, changes to the working directory, takes the groups, gid and uid (root's
capabilities go with uid 0), restores the parent-death signal (the uid change cleared it), sets
no_new_privs when ``allowPrivilegeEscalation: false``, and replaces itself with the container's process,
which becomes the pod's PID 1. Symbolic links in the image are resolved inside the root, never on the host.
Any failure exits 127 with the reason on stderr.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import stat
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SIGKILL = 9
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
LIBC = ctypes.CDLL(None, use_errno=True)


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    rc = LIBC.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                    data.encode() if data else None)  # fmt: skip
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source or fstype} on {target}: {os.strerror(err)}")


def bind(source: str, target: str, read_only: bool) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        mount("", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def inside(root: str, path: str) -> str:
    """``path`` in the container as a host path below ``root``, symbolic links resolved within ``root``."""
    todo = [p for p in path.split("/") if p]
    done: list[str] = []
    for _ in range(256):
        if not todo:
            return os.path.join(root, *done)
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            done = done[:-1]
            continue
        host = os.path.join(root, *done, part)
        if os.path.islink(host):
            link = os.readlink(host)
            todo = [p for p in link.split("/") if p] + todo
            done = [] if link.startswith("/") else done
        else:
            done.append(part)
    raise OSError(f"too many symbolic links in {path}")


def mount_point(root: str, path: str, is_file: bool) -> str:
    """The host path of ``path`` in the root, created (in the writable layer) when missing."""
    target = inside(root, path)
    os.makedirs(target if not is_file else os.path.dirname(target), exist_ok=True)
    if is_file and not os.path.exists(target):
        open(target, "w").close()  # an empty file to bind over
    return target


def devices(root: str) -> None:
    dev = mount_point(root, "/dev", False)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=65536k")
    for name, (major, minor) in DEVICES.items():
        os.mknod(f"{dev}/{name}", 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(f"{dev}/{name}", 0o666)
    for name, target in {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                         "stderr": "/proc/self/fd/2"}.items():  # fmt: skip
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(f"{dev}/shm")
    mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")


def layout(spec: dict[str, Any]) -> str:
    pod = spec["pod_dir"]
    layer, root = f"{pod}/layer", f"{pod}/root"
    mount("", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", layer, "tmpfs", 0, "mode=755")
    os.makedirs(f"{layer}/upper")
    os.makedirs(f"{layer}/work")
    mount(
        "overlay", root, "overlay", 0, f"lowerdir={spec['image']},upperdir={layer}/upper,workdir={layer}/work"
    )
    mount("proc", mount_point(root, "/proc", False), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    devices(root)
    mount("sysfs", mount_point(root, "/sys", False), "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    staged: dict[str, str] = {}
    for volume in spec["volumes"]:
        stage = f"{layer}/volumes/{volume['name']}"
        os.makedirs(stage)
        if volume["tmpfs"] is not None:
            mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, volume["tmpfs"])
        else:
            bind(volume["source"], stage, False)
        staged[volume["name"]] = stage
    for m in spec["mounts"]:
        source = staged[m["volume"]]
        if m["sub_path"]:
            source = inside(source, m["sub_path"])
            if not os.path.exists(source):
                os.makedirs(source)  # as the kubelet: a missing subPath of a writable volume is a directory
        bind(source, mount_point(root, m["target"], os.path.isfile(source)), m["read_only"])
    for name in ("hosts", "hostname", "resolv.conf"):
        bind(f"{pod}/etc/{name}", mount_point(root, f"/etc/{name}", True), False)
    if spec["read_only_root"]:
        mount("", root, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    return root


def become(spec: dict[str, Any], root: str) -> None:
    socket.sethostname(spec["hostname"])
    os.chdir(root)
    os.chroot(".")
    os.chdir(spec["workdir"])
    os.umask(0o022)
    os.setgroups(spec["groups"])
    os.setresgid(spec["gid"], spec["gid"], spec["gid"])
    parent = os.getppid()
    os.setresuid(spec["uid"], spec["uid"], spec["uid"])
    # unshare's --kill-child is a parent-death signal, which the kernel clears when the uid changes: set
    # again, so that the pod dies with the test (its PID 1 killed takes the whole PID namespace along)
    if LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 or os.getppid() != parent:
        raise OSError(ctypes.get_errno(), "the runtime is gone, or prctl(PR_SET_PDEATHSIG) failed")
    if spec["no_new_privs"] and LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    argv, env = spec["argv"], dict(spec["env"])
    os.execvpe(argv[0], argv, env)


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        become(spec, layout(spec))
    except OSError as exc:
        print(f"podinit: cannot start the container: {exc}", file=sys.stderr, flush=True)
        os._exit(127)


if __name__ == "__main__":
    main()

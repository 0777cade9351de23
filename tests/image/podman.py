"""podman on these machines: its own storage per test, and what `podman run` needs here.

Measured on the development machines (Debian 12, podman 4.3, crun 1.8): ``podman load`` and ``podman
image inspect`` work as they are; ``podman run`` works with two adjustments, applied by :func:`run`:

- the cgroups are "hybrid" (v1 controllers plus a v2 mount at ``/sys/fs/cgroup/unified``), which crun
  refuses: the container starts in a private mount namespace without that mount, and ``--cgroups=disabled``;
- podman's default ``RLIMIT_NOFILE``/``RLIMIT_NPROC`` exceed this machine's hard limits: ``--ulimit`` gives
  the current ones (``nproc`` at most ``kernel.pid_max``: crun is refused anything above it here).

Networking needs nothing: the default bridge with ``-p 127.0.0.1:PORT:4180``, ``--network=host`` and
``--network=none`` all work.
"""

from __future__ import annotations

import os
import resource
import shlex
from collections.abc import Sequence
from pathlib import Path

UNIFIED = "/sys/fs/cgroup/unified"


def podman(storage: Path, *args: str) -> list[str]:
    """``podman`` with its images and containers under ``storage`` (nothing shared with other tests)."""
    return ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run"), *args]


def run(storage: Path, image: str, args: Sequence[str] = (), *, flags: Sequence[str] = ()) -> list[str]:
    """``podman run --rm`` of ``image`` with ``args`` and this machine's adjustments (see above)."""
    files = resource.getrlimit(resource.RLIMIT_NOFILE)
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    processes = [min(n, pid_max) if n >= 0 else pid_max for n in resource.getrlimit(resource.RLIMIT_NPROC)]
    limits = [f"--ulimit=nofile={files[0]}:{files[1]}", f"--ulimit=nproc={processes[0]}:{processes[1]}"]
    argv = podman(storage, "run", "--rm", "--cgroups=disabled", *limits, *flags, image, *args)
    if not os.path.ismount(UNIFIED):
        return argv
    script = f"umount {UNIFIED} && exec {shlex.join(argv)}"
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]

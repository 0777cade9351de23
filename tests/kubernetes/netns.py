"""The pods' network: a bridge on the host and one network namespace per pod, joined by veth pairs.

::

    host: bridge idgpb<tag>  PREFIX.1/24 (+ the Services' and Ingress hosts' addresses, /32)
            ├── idgpv<tag>-0 ══ eth0 PREFIX.10/24  in netns idgate-pods-<tag>-0
            └── idgpv<tag>-1 ══ eth0 PREFIX.11/24  in netns idgate-pods-<tag>-1

Pods reach each other and the bridge's addresses over layer 2 (no forwarding, no NAT, no default route:
nothing outside the /24 is reachable from a pod). ``<tag>`` is the test process's pid in hex, so that a
run killed before its clean-up is swept by the next (:func:`sweep_stale`). The /24 is chosen among
``10.231.0.0/16`` under a lock, skipping any prefix an interface of the host already uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Network", "network", "require_tools", "sweep_stale"]

LOCK = Path("/run/idgate-pods.lock")
BRIDGE = "idgpb"
VETH = "idgpv"
NETNS = "idgate-pods-"
TOOLS = ("ip", "nsenter", "unshare", "setpriv")


def require_tools() -> None:
    """Fail (never skip) when this machine cannot run the pods."""
    if os.geteuid() != 0:
        raise AssertionError("the rendered-pods test needs root (network namespaces, mounts, chroot)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise AssertionError(f"the rendered-pods test needs {', '.join(missing)} (iproute2, util-linux)")


def ip(*args: str, check: bool = True) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Delete the bridges, veths and namespaces of runs whose process is gone; what was deleted."""
    removed = []
    for line in ip("-o", "link", "show").splitlines():
        match = re.match(rf"\d+: ({BRIDGE}|{VETH})([0-9a-f]+)[-@:]", line)
        if match and not _alive(int(match.group(2), 16)):
            name = line.split(": ")[1].split("@")[0]
            ip("link", "del", name, check=False)
            removed.append(name)
    for line in ip("netns", "list").splitlines():
        match = re.match(rf"{NETNS}([0-9a-f]+)-\d+", line)
        if match and not _alive(int(match.group(1), 16)):
            ip("netns", "del", line.split()[0], check=False)
            removed.append(line.split()[0])
    return removed


def _prefix_in_use(prefix: str) -> bool:
    return f" {prefix}." in ip("-4", "-o", "addr", "show") or f"{prefix}." in ip("-4", "route", "show")


@dataclass
class Network:
    tag: str
    prefix: str  # "10.231.N"
    bridge: str
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)

    @property
    def host_ip(self) -> str:
        return f"{self.prefix}.1"

    def add_address(self, address: str) -> None:
        """An address of the host end (a Service's cluster IP, an Ingress host's address)."""
        ip("addr", "add", f"{address}/32", "dev", self.bridge)

    def add_pod(self, address: str) -> str:
        """A network namespace with ``eth0`` at ``address``/24 on the bridge; its name."""
        n = len(self.namespaces)
        ns, veth = f"{NETNS}{self.tag}-{n}", f"{VETH}{self.tag}-{n}"
        self.namespaces.append(ns)
        ip("netns", "add", ns)
        self.links.append(veth)
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", veth, "master", self.bridge, "up")
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("-n", ns, "link", "set", "lo", "up")
        return ns

    def teardown(self) -> list[str]:
        """Delete everything this network made; what could not be deleted (empty when all went)."""
        left = []
        for ns in self.namespaces:
            ip("netns", "del", ns, check=False)
        for link in [*self.links, self.bridge]:
            ip("link", "del", link, check=False)
        names = ip("-o", "link", "show")
        left += [link for link in [*self.links, self.bridge] if f": {link}" in names]
        listed = ip("netns", "list")
        left += [ns for ns in self.namespaces if re.search(rf"^{ns}\b", listed, re.M)]
        return left


@contextlib.contextmanager
def network() -> Iterator[Network]:
    """A fresh bridge on a free /24; everything made is deleted on exit, also when the body fails."""
    require_tools()
    sweep_stale()
    tag = f"{os.getpid():x}"
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        candidates = random.sample(range(256), 256)
        prefix = next((f"10.231.{n}" for n in candidates if not _prefix_in_use(f"10.231.{n}")), None)
        if prefix is None:
            raise AssertionError("no free /24 in 10.231.0.0/16 for the pods' network")
        net = Network(tag, prefix, f"{BRIDGE}{tag}")
        ip("link", "add", net.bridge, "type", "bridge")
        try:
            ip("addr", "add", f"{net.host_ip}/24", "dev", net.bridge)
            ip("link", "set", net.bridge, "up")
        except BaseException:
            net.teardown()
            raise
    try:
        yield net
    except BaseException:
        net.teardown()
        raise
    left = net.teardown()
    if left:
        raise AssertionError(f"the pods' network was not fully removed: {left}")

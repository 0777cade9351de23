"""What the bench needs installed (installed when missing), and the machine and versions it reports."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEBIAN = {"wrk": "wrk", "nginx": "nginx", "apache2": "apache2", "redis-server": "redis-server"}
MOD_OIDC = Path("/usr/lib/apache2/modules/mod_auth_openidc.so")


def _run(cmd: list[str], timeout: float = 900) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    return (done.stdout + done.stderr).strip()


def ensure_installed(*, need_node: bool = True) -> None:
    """apt-get the Debian packages and ``npm ci`` the root lock when they are missing."""
    missing = [
        pkg
        for cmd, pkg in DEBIAN.items()
        if shutil.which(cmd) is None and not Path(f"/usr/sbin/{cmd}").exists()
    ]
    if not MOD_OIDC.exists():
        missing.append("libapache2-mod-auth-openidc")
    if missing:
        print(f"bench: installing {' '.join(missing)}", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        lock = ["-o", "DPkg::Lock::Timeout=600"]
        subprocess.run(["apt-get", *lock, "update", "-qq"], check=True, env=env, timeout=900)
        subprocess.run(
            ["apt-get", *lock, "install", "-y", "-qq", "--no-install-recommends", *missing],
            check=True,
            env=env,
            timeout=900,
        )
    if need_node and not (ROOT / "node_modules" / "oidc-provider").exists():
        if not (ROOT / "package-lock.json").exists():
            raise RuntimeError("no package-lock.json at the repository root: cannot install oidc-provider")
        print("bench: npm ci (oidc-provider)", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], check=True, cwd=ROOT, timeout=900)


def ensure_py_spy() -> str:
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True, timeout=900)
    return str(exe)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _pkg_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _npm_version(name: str) -> str:
    import json

    try:
        return str(json.loads((ROOT / "node_modules" / name / "package.json").read_text())["version"])
    except (OSError, KeyError, ValueError):
        return "?"


def machine() -> dict[str, str]:
    """The facts RESULTS.md records about the machine and the software measured."""
    return {
        "nproc": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "kernel": platform.release(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "Python": platform.python_version(),
        "uvloop": _pkg_version("uvloop"),
        "httptools": _pkg_version("httptools"),
        "aiohttp": _pkg_version("aiohttp"),
        "idgate": _pkg_version("idgate")
        + " @ "
        + _run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "nginx": _first_line(_run(["nginx", "-v"])).replace("nginx version: ", ""),
        "Apache": _first_line(_run(["apache2", "-v"])).replace("Server version: ", ""),
        "mod_auth_openidc": _run(["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-auth-openidc"]),
        "wrk": _first_line(_run(["wrk", "-v"])).split(" [")[0],
        "Redis": _first_line(_run(["redis-server", "--version"])).split(" sha=")[0],
        "node": _run(["node", "--version"]),
        "oidc-provider": _npm_version("oidc-provider"),
    }

"""The two ways to the same image, and the cache that makes ``make image`` quick the second time.

``rootfs(target)``: the whole root file system in a directory, what ``deploy/Dockerfile``'s build stage
runs before ``FROM scratch`` + ``COPY``. ``archive(out)``: the same tree as two layers in an OCI/Docker
archive, what ``make image`` runs:

- the **base** layer (:mod:`deploy.image.debian`: Debian's packages, trimmed, the user, the stdlib
  compiled) is cached under ``~/.cache/idgate-image/`` keyed by everything that makes it (the package
  lists, the host's Debian sources, this recipe's code); it is rebuilt when that changes or after
  :data:`MAX_AGE` so that Debian's security updates arrive;
- the dependency wheels are cached the same way, keyed by ``pyproject.toml``'s ``dependencies``;
- the **app** layer (:mod:`deploy.image.venv`: ``/opt/idgate``) is rebuilt from the working tree each time,
  offline, in a copy of the base.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tarfile
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy.image import debian, layout, spec, venv

MAX_AGE = 7 * 24 * 3600  # seconds a cached base or wheel set is reused
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def archive_path(version: str | None = None) -> Path:
    return spec.ROOT / "dist" / f"idgate-image-{version or spec.version()}.tar"


def cache_dir() -> Path:
    configured = os.environ.get("IDGATE_IMAGE_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "idgate-image"


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One build fills the cache at a time (worktrees share it)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fresh(path: Path) -> bool:
    return path.exists() and time.time() - path.stat().st_mtime < MAX_AGE


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _code(*modules: str) -> list[str]:
    here = Path(__file__).parent
    return [hashlib.sha256((here / f"{m}.py").read_bytes()).hexdigest() for m in modules]


def epoch() -> int:
    """Every file's time is clamped to this: ``SOURCE_DATE_EPOCH``, else the last commit's time."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    found = _git("log", "-1", "--format=%ct")
    return int(found) if found else int(time.time())


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(spec.ROOT), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def revision() -> str | None:
    head = _git("rev-parse", "HEAD")
    return head and (head + ("-dirty" if _git("status", "--porcelain", "--untracked-files=no") else ""))


# --- the two recipes ------------------------------------------------------------------------------------


def rootfs(target: Path, work: Path) -> None:
    """The whole image as a directory (``deploy/Dockerfile``)."""
    debian.build(target)
    venv.fetch_tools(work / "tools")
    wheel = venv.build_wheel(work / "wheel")
    venv.download(target, work / "tools", wheel, work / "deps")
    venv.install(target, work / "deps", work / "tools", wheel)


def archive(out: Path) -> dict[str, Any]:
    """The image as an archive in ``out`` (``make image``); returns what was built, for the log."""
    cache, clamp = cache_dir(), epoch()
    work = spec.ROOT / "build" / "image"
    shutil.rmtree(work, ignore_errors=True)
    tree = work / "rootfs"
    tree.mkdir(parents=True)
    with _locked(cache):
        base_layer = cached_base(cache, clamp)
        with tarfile.open(base_layer.path) as tar:  # our own layer: links may be absolute (/etc/localtime)
            trusted = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
            tar.extractall(tree, numeric_owner=True, **trusted)  # type: ignore[arg-type]  # noqa: S202
        tools, deps, wheel = cached_wheels(cache, tree, work)
    venv.install(tree, deps, tools, wheel)
    app_layer = layout.write_layer(
        tree,
        work / "app.tar.gz",
        epoch=clamp,
        tops=(spec.VENV.lstrip("/"),),
        history=f"idgate {spec.version()}: {spec.VENV}, a virtualenv of {spec.PYTHON} (deploy/image/venv.py)",
    )
    created = datetime.fromtimestamp(clamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = layout.write_archive(
        out, [base_layer, app_layer], image_config(created), spec.reference(), created
    )
    shutil.rmtree(work)
    return {
        "archive": str(out),
        "reference": spec.reference(),
        "manifest": digest,
        "base": base_layer.size,
        "app": app_layer.size,
        "size": out.stat().st_size,
    }


def image_config(created: str) -> dict[str, Any]:
    return {
        "architecture": ARCH.get(platform.machine(), platform.machine()),
        "config": {
            "User": f"{spec.UID}:{spec.GID}",
            "Env": [f"{k}={v}" for k, v in spec.ENV],
            "Entrypoint": list(spec.ENTRYPOINT),
            "Cmd": list(spec.CMD),
            "WorkingDir": spec.STATE,
            "ExposedPorts": {f"{port}/tcp": {} for port in spec.PORTS},
            "Labels": spec.labels(created, revision()),
        },
    }


# --- the cache ------------------------------------------------------------------------------------------


def cached_base(cache: Path, clamp: int) -> layout.Layer:
    key = _key(
        spec.SUITE,
        spec.PYTHON,
        spec.PACKAGES,
        spec.BUILD_ONLY,
        spec.DPKG_EXCLUDES,
        spec.DPKG_INCLUDES,
        spec.UID,
        spec.STATE,
        platform.machine(),
        debian.sources().read_text(encoding="utf-8"),
        _code("debian", "layout"),
    )
    layer, meta = cache / f"base-{key}.tar.gz", cache / f"base-{key}.json"
    if _fresh(meta) and layer.exists():
        return layout.Layer.from_json(layer, json.loads(meta.read_text(encoding="utf-8")))
    _prune(cache, "base-")
    tree = cache / f"base-{key}.tmp"
    shutil.rmtree(tree, ignore_errors=True)
    kept = debian.build(tree)
    done = layout.write_layer(
        tree,
        layer,
        epoch=clamp,
        history=f"debian {spec.SUITE}: {','.join(spec.PACKAGES)}, trimmed (deploy/image/debian.py)",
    )
    shutil.rmtree(tree)
    meta.write_text(json.dumps({**done.as_json(), "packages": kept}, indent=1), encoding="utf-8")
    return done


def cached_wheels(cache: Path, tree: Path, work: Path) -> tuple[Path, Path, Path]:
    """(pip, idgate's dependencies, idgate's wheel from the working tree, compiled); the first two are
    fetched when idgate's dependencies changed, the dependencies inside ``tree`` (the image's Python)."""
    project = tomllib.loads((spec.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    key = _key(project["dependencies"], spec.PYTHON, platform.machine())
    here, done = cache / f"wheels-{key}", cache / f"wheels-{key}.done"
    fresh = _fresh(done) and here.is_dir()
    if not fresh:
        _prune(cache, "wheels-")
        venv.fetch_tools(here / "tools")
    wheel = venv.build_wheel(work / "wheel")
    if not fresh:
        venv.download(tree, here / "tools", wheel, here / "deps")
        done.touch()
    return here / "tools", here / "deps", wheel


def _prune(cache: Path, prefix: str) -> None:
    """Older entries of this kind go before a new one is made: the cache holds one of each."""
    for old in cache.glob(prefix + "*"):
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()

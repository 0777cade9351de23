"""The image under test: ``make image``'s archive in ``dist/``, its name, its config and its layers.

The archive holds Docker's ``manifest.json`` and an OCI layout; the config (``Entrypoint``, ``Cmd``,
``Env``, ``WorkingDir``, ``User``) is read as a runtime reads it, through ``manifest.json`` when present,
else through ``index.json``. The layers are laid out by ``tests/image/rootfs.py``'s ``unpack`` once per
image (keyed by the config's digest, the image's id) under :data:`CACHE`, as a node keeps pulled images:
the pods only ever read that tree (it is their overlay's lower layer). Trees unused for a day go.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.kubernetes.pods import ImageConfig

from idgate import __version__

__all__ = ["ARCHIVE", "CACHE", "find_archive", "image_tree", "read_image"]

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "dist" / f"idgate-image-{__version__}.tar"
CACHE = Path(os.environ.get("IDGATE_PODS_CACHE", "/var/tmp/idgate-pods"))
UNUSED = 24 * 3600  # seconds after which a cached tree of another image is removed


def find_archive() -> Path:
    """The archive of this version; fails (never skips) with what to run when it is missing."""
    if not ARCHIVE.is_file():
        raise AssertionError(f"{ARCHIVE} is missing: run `make image` first (it builds the image archive)")
    return ARCHIVE


def _json(tar: tarfile.TarFile, name: str) -> Any:
    member = tar.extractfile(name.removeprefix("./"))
    if member is None:
        raise AssertionError(f"the image archive has no file {name}")
    return json.load(member)


def _blob(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _config(tar: tarfile.TarFile) -> tuple[str, str]:
    """(the image's reference, the path of its config blob)."""
    if "manifest.json" in tar.getnames():
        (entry,) = _json(tar, "manifest.json")
        return entry["RepoTags"][0], entry["Config"]
    (descriptor,) = _json(tar, "index.json")["manifests"]
    ref = descriptor.get("annotations", {}).get("io.containerd.image.name", "")
    return ref, _blob(_json(tar, _blob(descriptor["digest"]))["config"]["digest"])


def read_image(archive: Path) -> ImageConfig:
    """The image's reference (its tag) and run-time config."""
    with tarfile.open(archive) as tar:
        ref, config = _config(tar)
        return ImageConfig.from_config(ref, _json(tar, config))


def image_tree(archive: Path, unpack: Callable[[Path, Path], Path]) -> Path:
    """The image's root file system, unpacked once per image id (never written to afterwards)."""
    with tarfile.open(archive) as tar:
        image_id = _config(tar)[1].rsplit("/", 1)[1]
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / f"rootfs-{image_id[:24]}"
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in CACHE.glob("rootfs-*"):
            if old != tree and time.time() - old.stat().st_mtime > UNUSED:
                shutil.rmtree(old, ignore_errors=True)
        if not tree.is_dir():
            partial = CACHE / f"partial-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(partial)
            unpacked = unpack(archive, partial)
            unpacked.rename(tree)  # complete, or not there at all
        os.utime(tree)
    return tree

"""The image under test: ``make image``'s archive in ``dist/``, its name, its config and its layers.

The archive is read with ``tests/image/rootfs.py`` (its OCI index, manifest and config; ``unpack`` for the
layers). The config (``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``, ``User``) is what the runner combines
with the pod spec, as a runtime does. The layers are unpacked once per image (keyed by the config's
digest, the image's id) under :data:`CACHE`, as a node keeps pulled images: the pods only ever read that
tree (it is their overlay's lower layer). Trees of other images unused for a day are removed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tarfile
import time
from pathlib import Path

from tests.image.rootfs import archive_path, config, manifest, read_json, unpack
from tests.kubernetes.pods import ImageConfig

__all__ = ["CACHE", "find_archive", "image_tree", "read_image"]

CACHE = Path(os.environ.get("IDGATE_PODS_CACHE", "/var/tmp/idgate-pods"))
UNUSED = 24 * 3600  # seconds after which a cached tree of another image is removed


def find_archive() -> Path:
    """The archive of this version; fails (never skips) with what to run when it is missing."""
    path = archive_path()
    if not path.is_file():
        raise AssertionError(f"{path} is missing: run `make image` first (it builds the image archive)")
    return path


def read_image(archive: Path) -> ImageConfig:
    """The image's reference (the name the archive gives it) and run-time config."""
    with tarfile.open(archive) as tar:
        (entry,) = read_json(tar, "index.json")["manifests"]
        ref = entry.get("annotations", {}).get("io.containerd.image.name", "")
        return ImageConfig.from_config(ref, config(tar))


def image_tree(archive: Path) -> Path:
    """The image's root file system, unpacked once per image id (never written to afterwards)."""
    with tarfile.open(archive) as tar:
        image_id = manifest(tar)["config"]["digest"].partition(":")[2]
    CACHE.mkdir(parents=True, exist_ok=True)
    tree = CACHE / f"rootfs-{image_id[:24]}"
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for old in CACHE.glob("rootfs-*"):
            if old != tree and time.time() - old.stat().st_mtime > UNUSED:
                shutil.rmtree(old, ignore_errors=True)
        for partial in CACHE.glob("partial-*"):  # a run killed while unpacking (we hold the lock)
            shutil.rmtree(partial, ignore_errors=True)
        if not tree.is_dir():
            unpacked = unpack(archive, CACHE / f"partial-{os.getpid()}")
            unpacked.rename(tree)  # complete, or not there at all
        os.utime(tree)
    return tree

"""The image under test: ``make image``'s archive in ``dist/``, its name and its config.

The archive holds Docker's ``manifest.json`` and an OCI layout; the config (``Entrypoint``, ``Cmd``,
``Env``, ``WorkingDir``, ``User``) is read as a runtime reads it, through ``manifest.json`` when present,
else through ``index.json``. The layers are laid out by ``tests/image/rootfs.py``'s ``unpack``.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from tests.kubernetes.pods import ImageConfig

from idgate import __version__

__all__ = ["ARCHIVE", "find_archive", "read_image"]

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "dist" / f"idgate-image-{__version__}.tar"


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


def read_image(archive: Path) -> ImageConfig:
    """The image's reference (its tag) and run-time config."""
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        if "manifest.json" in names:
            (entry,) = _json(tar, "manifest.json")
            return ImageConfig.from_config(entry["RepoTags"][0], _json(tar, entry["Config"]))
        index = _json(tar, "index.json")
        (descriptor,) = index["manifests"]
        ref = descriptor.get("annotations", {}).get("io.containerd.image.name", "")
        manifest = _json(tar, _blob(descriptor["digest"]))
        return ImageConfig.from_config(ref, _json(tar, _blob(manifest["config"]["digest"])))

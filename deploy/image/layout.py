"""Layers and the archive, written without a container engine.

A layer is a gzip-compressed tar of a directory tree, deterministic: entries sorted, owners numeric (no
names), modification times clamped to one epoch, gzip without a name or a time. Hard links stay links;
``/dev``, ``/proc`` and ``/sys`` are empty directories (the runtime mounts them).

The archive is one tar holding both an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256``)
and Docker's ``manifest.json`` naming the same blobs, as ``docker save`` has written since Docker 25: so
``docker load``, ``podman load``, ``kind load image-archive``, ``ctr images import`` and
``skopeo ... oci-archive:`` / ``docker-archive:`` all read it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
EMPTY_DIRS = ("dev", "proc", "sys")


@dataclass(frozen=True)
class Layer:
    """A layer blob on disk: ``digest`` of the gzip file, ``diff_id`` of the tar inside it."""

    path: Path
    digest: str
    diff_id: str
    size: int
    history: str  # what made it, for the config's history

    def as_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "diff_id": self.diff_id, "size": self.size, "history": self.history}

    @classmethod
    def from_json(cls, path: Path, data: Mapping[str, Any]) -> Layer:
        return cls(path, data["digest"], data["diff_id"], data["size"], data["history"])


class _Hashing(io.RawIOBase):
    """A write-only stream that hashes and counts what passes to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.out.write(view)
        self.count += len(view)
        return len(view)


def _entries(root: Path, top: str) -> Iterator[str]:
    """Sorted depth-first: every directory, then its entries (recursively), names compared bytewise."""
    base = root / top if top else root
    if top:
        yield top
    if top in EMPTY_DIRS:
        return
    if not base.is_dir() or base.is_symlink():
        return
    for name in sorted(os.listdir(base)):
        path = f"{top}/{name}" if top else name
        where = root / path
        if where.is_dir() and not where.is_symlink():
            yield from _entries(root, path)
        else:
            yield path


def write_layer(
    root: Path,
    out: Path,
    *,
    epoch: int,
    history: str,
    tops: Sequence[str] = ("",),
) -> Layer:
    """``root``'s tree (or the ``tops`` under it, with their parent directories) as a layer in ``out``."""
    tmp = out.with_name(out.name + ".tmp")
    links: dict[tuple[int, int], str] = {}
    with tmp.open("wb") as raw:
        outer = _Hashing(raw)
        with gzip.GzipFile(filename="", fileobj=outer, mode="wb", mtime=0, compresslevel=6) as gz:
            inner = _Hashing(gz)  # type: ignore[arg-type]
            with tarfile.open(fileobj=inner, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for top in tops:
                    for parent in _parents(top):
                        tar.addfile(_info(root, parent, epoch, links))
                    for path in _entries(root, top):
                        info = _info(root, path, epoch, links)
                        if info.isreg():
                            with (root / path).open("rb") as content:
                                tar.addfile(info, content)
                        else:
                            tar.addfile(info)
    tmp.rename(out)
    return Layer(
        out, f"sha256:{outer.sha.hexdigest()}", f"sha256:{inner.sha.hexdigest()}", outer.count, history
    )


def _parents(top: str) -> list[str]:
    parts = top.split("/") if top else []
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _info(root: Path, path: str, epoch: int, links: dict[tuple[int, int], str]) -> tarfile.TarInfo:
    st = os.lstat(root / path)
    info = tarfile.TarInfo(path)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid, info.uname, info.gname = st.st_uid, st.st_gid, "", ""
    info.mtime = min(int(st.st_mtime), epoch)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(root / path)
    elif stat.S_ISREG(st.st_mode):
        first = links.setdefault((st.st_dev, st.st_ino), path) if st.st_nlink > 1 else path
        if first != path:
            info.type, info.linkname = tarfile.LNKTYPE, first
        else:
            info.type, info.size = tarfile.REGTYPE, st.st_size
    else:
        raise SystemExit(f"/{path}: a device, socket or pipe has no place in a layer")
    return info


# --- the archive ----------------------------------------------------------------------------------------


def _blob(data: bytes) -> tuple[str, bytes]:
    return f"sha256:{hashlib.sha256(data).hexdigest()}", data


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def write_archive(
    out: Path, layers: Sequence[Layer], config: Mapping[str, Any], ref: str, created: str
) -> str:
    """The archive in ``out`` (atomically); returns the manifest's digest (the image's id for registries)."""
    image_config = {
        "architecture": config["architecture"],
        "os": "linux",
        "created": created,
        "config": config["config"],
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": created, "created_by": layer.history} for layer in layers],
    }
    config_digest, config_bytes = _blob(_dumps(image_config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": OCI_LAYER, "digest": la.digest, "size": la.size} for la in layers],
        "annotations": {"org.opencontainers.image.created": created},
    }
    manifest_digest, manifest_bytes = _blob(_dumps(manifest))
    tag = ref.rsplit(":", 1)[1]
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    docker = [
        {
            "Config": _blob_path(config_digest),
            "RepoTags": [ref],
            "Layers": [_blob_path(layer.digest) for layer in layers],
        }
    ]
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        blobs: dict[str, bytes | Path] = {config_digest: config_bytes, manifest_digest: manifest_bytes}
        blobs.update((layer.digest, layer.path) for layer in layers)
        for digest in sorted(blobs):
            _add(tar, _blob_path(digest), blobs[digest])
        _add(tar, "index.json", _dumps(index))
        _add(tar, "manifest.json", _dumps(docker))
        _add(tar, "oci-layout", _dumps({"imageLayoutVersion": "1.0.0"}))
    tmp.rename(out)
    return manifest_digest


def _blob_path(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _add(tar: tarfile.TarFile, name: str, content: bytes | Path) -> None:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    if isinstance(content, Path):
        info.size = content.stat().st_size
        with content.open("rb") as f:
            tar.addfile(info, f)
    else:
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))

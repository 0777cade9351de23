"""A pod's volumes and a container's mounts, as the kubelet would lay them out.

==========================  ==================================================================================
volume                       what the runner mounts
==========================  ==================================================================================
``configMap``, ``secret``    the keys (or ``items``) written as files with ``defaultMode`` / ``mode``, group
                             ``fsGroup``, mounted read-only (Kubernetes forces these read-only)
``emptyDir``                 a fresh tmpfs per pod (``sizeLimit`` as its size; mode 2777, group ``fsGroup``)
``persistentVolumeClaim``    a directory kept for the claim (group ``fsGroup``); the claim must be rendered
==========================  ==================================================================================

Anything else (``hostPath``, ``projected``, ``csi`` ...), ``subPathExpr``, ``mountPropagation``, a mount of a
volume the pod does not declare, a key or ``subPath`` the volume does not hold: a problem each.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from tests.kubernetes.objects import Objects, Problems

__all__ = ["File", "Mount", "Volume", "mounts", "parse_quantity", "volumes"]

Obj = dict[str, Any]
FILES = {"configMap": ("ConfigMap", "name"), "secret": ("Secret", "secretName")}
KINDS = (*FILES, "emptyDir", "persistentVolumeClaim")
DEFAULT_MODE = 0o644
_QUANTITY = re.compile(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?")
_UNITS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


@dataclass(frozen=True)
class File:
    path: str  # relative to the volume's root
    data: bytes
    mode: int


@dataclass(frozen=True)
class Volume:
    name: str
    kind: str  # "files" (configMap, secret), "emptyDir", "pvc"
    files: tuple[File, ...] = ()
    size: int | None = None  # emptyDir sizeLimit in bytes
    claim: str = ""  # pvc: the claim's name


@dataclass(frozen=True)
class Mount:
    volume: str
    target: str  # absolute path in the container
    read_only: bool
    sub_path: str = ""


def parse_quantity(text: str) -> int | None:
    """``16Mi`` -> 16777216; ``None`` when it is not a quantity the runner reads."""
    match = _QUANTITY.fullmatch(str(text))
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _relative(path: str) -> bool:
    return bool(path) and not path.startswith("/") and ".." not in path.split("/")


def _files(spec: Obj, kind: str, key: str, where: str, ns: str, objects: Objects, p: Problems) -> list[File]:
    p.unknown(spec, where, (key, "items", "defaultMode", "optional"))
    name = str(spec.get(key))
    data = objects.data(kind, ns, name)
    if data is None:
        if not spec.get("optional"):
            p.add(where, f"{kind} {ns}/{name} is not rendered")
        return []
    mode = int(spec.get("defaultMode", DEFAULT_MODE))
    if "items" not in spec:
        return [File(k, v, mode) for k, v in sorted(data.items())]
    out = []
    for i, item in enumerate(spec["items"] or []):
        p.unknown(item, f"{where}.items[{i}]", ("key", "path", "mode"))
        if item.get("key") not in data:
            if not spec.get("optional"):
                p.add(f"{where}.items[{i}].key", f"{kind} {ns}/{name} has no key {item.get('key')!r}")
            continue
        if not _relative(str(item.get("path", ""))):
            p.add(f"{where}.items[{i}].path", "must be a relative path without '..'")
            continue
        out.append(File(str(item["path"]), data[item["key"]], int(item.get("mode", mode))))
    return out


def volumes(pod: Obj, path: str, namespace: str, objects: Objects, problems: Problems) -> list[Volume]:
    """Every volume of the pod spec, or a problem for each the runner cannot provide."""
    out: list[Volume] = []
    for i, vol in enumerate(pod.get("volumes") or []):
        where = f"{path}.volumes[{i}]"
        name = str(vol.get("name", ""))
        kinds = [k for k in vol if k != "name"]
        if len(kinds) != 1 or kinds[0] not in KINDS:
            problems.add(where, f"volume {name!r}: {', '.join(kinds) or 'no source'} is not supported")
            continue
        kind, spec = kinds[0], vol[kinds[0]] or {}
        where = f"{where}.{kind}"
        if kind in FILES:
            obj_kind, key = FILES[kind]
            files = _files(spec, obj_kind, key, where, namespace, objects, problems)
            out.append(Volume(name, "files", files=tuple(files)))
        elif kind == "emptyDir":
            problems.unknown(spec, where, ("medium", "sizeLimit"))
            if spec.get("medium", "") not in ("", "Memory"):
                problems.add(f"{where}.medium", f"{spec['medium']!r} is not supported")
            size = parse_quantity(spec["sizeLimit"]) if "sizeLimit" in spec else None
            if "sizeLimit" in spec and size is None:
                problems.add(f"{where}.sizeLimit", f"{spec['sizeLimit']!r} is not a quantity")
            out.append(Volume(name, "emptyDir", size=size))
        else:
            problems.unknown(spec, where, ("claimName", "readOnly"))
            claim = str(spec.get("claimName"))
            if objects.get("PersistentVolumeClaim", namespace, claim) is None:
                problems.add(
                    f"{where}.claimName", f"PersistentVolumeClaim {namespace}/{claim} is not rendered"
                )
            out.append(Volume(name, "pvc", claim=claim))
    return out


def mounts(container: Obj, path: str, declared: list[Volume], problems: Problems) -> list[Mount]:
    """The container's ``volumeMounts``; ConfigMaps and Secrets always read-only."""
    by_name = {v.name: v for v in declared}
    out: list[Mount] = []
    seen: set[str] = set()
    for i, m in enumerate(container.get("volumeMounts") or []):
        where = f"{path}.volumeMounts[{i}]"
        problems.unknown(m, where, ("name", "mountPath", "readOnly", "subPath"))
        target = posixpath.normpath(str(m.get("mountPath", "")))
        volume = by_name.get(str(m.get("name")))
        if volume is None:
            problems.add(f"{where}.name", f"the pod declares no volume {m.get('name')!r}")
            continue
        if not target.startswith("/") or target == "/":
            problems.add(f"{where}.mountPath", f"{m.get('mountPath')!r} must be an absolute path below /")
            continue
        if target in seen:
            problems.add(f"{where}.mountPath", f"{target} is mounted twice")
            continue
        seen.add(target)
        sub = str(m.get("subPath", ""))
        if sub and not _relative(sub):
            problems.add(f"{where}.subPath", "must be a relative path without '..'")
            continue
        if (
            sub
            and volume.kind == "files"
            and not any(f.path == sub or f.path.startswith(sub + "/") for f in volume.files)
        ):
            problems.add(f"{where}.subPath", f"volume {volume.name!r} has no file {sub!r}")
            continue
        read_only = bool(m.get("readOnly")) or volume.kind == "files"
        out.append(Mount(volume.name, target, read_only, sub))
    return out

"""The rendered objects as the runner looks them up, and the one error it raises.

A pod spec the runner cannot start exactly as Kubernetes would is a :class:`PodSpecError` listing every
problem found, each with the object and the field path (``Deployment oauth/dex:
spec.template.spec.volumes[2].hostPath: ...``): the test fails, whichever object is wrong.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Objects", "PodSpecError", "Problems", "ref"]

Obj = dict[str, Any]


class PodSpecError(AssertionError):
    """The pod spec cannot start here; ``problems`` says where and why (one line each)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("a rendered pod cannot start:\n  " + "\n  ".join(problems))


def ref(obj: Obj) -> str:
    """``Deployment oauth/dex``: how messages name an object."""
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name')}"


@dataclass
class Problems:
    """Collects problems under one object; :meth:`raise_if_any` raises them all at once."""

    where: str
    found: list[str] = field(default_factory=list)

    def add(self, path: str, why: str) -> None:
        self.found.append(f"{self.where}: {path}: {why}")

    def unknown(self, node: Obj, path: str, known: Iterable[str]) -> None:
        """Every key of ``node`` outside ``known`` is a problem: the runner would not honour it."""
        allowed = set(known)
        for key in node:
            if key not in allowed:
                self.add(f"{path}.{key}" if path else key, "not supported by the pod runner")

    def raise_if_any(self) -> None:
        if self.found:
            raise PodSpecError(self.found)


class Objects:
    """The render's objects by (kind, namespace, name)."""

    def __init__(self, objects: Iterable[Obj]) -> None:
        self.all = [o for o in objects if o]
        self._index = {(o["kind"], _ns(o), o["metadata"]["name"]): o for o in self.all}

    def of_kind(self, kind: str) -> list[Obj]:
        return [o for o in self.all if o["kind"] == kind]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self._index.get((kind, namespace, name))

    def data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        """A Secret's or ConfigMap's keys and bytes, as the API server would store them; ``None`` when
        the object is not rendered. Secret ``data`` is base64 (``stringData`` wins, as on the server);
        ConfigMap ``data`` is text and ``binaryData`` base64."""
        obj = self.get(kind, namespace, name)
        if obj is None:
            return None
        secret = kind == "Secret"
        encoded = (obj.get("data") if secret else obj.get("binaryData")) or {}
        plain = (obj.get("stringData") if secret else obj.get("data")) or {}
        out: dict[str, bytes] = {}
        for key, value in encoded.items():
            try:
                out[key] = base64.b64decode(str(value), validate=True)
            except binascii.Error as exc:
                raise PodSpecError([f"{ref(obj)}: data.{key}: not base64 ({exc})"]) from None
        out.update({key: str(value).encode() for key, value in plain.items()})
        return out


def _ns(obj: Obj) -> str:
    return str(obj["metadata"].get("namespace", "default"))

"""A container's environment, resolved as the kubelet resolves it.

Precedence, lowest first: the image's ``Env``; the Service links of the pod's namespace (unless
``enableServiceLinks: false``); each ``envFrom`` source in order (``prefix`` + key); each ``env`` entry in
order. ``$(NAME)`` in an ``env`` value expands to a variable defined before it (not the image's); in
``command`` and ``args`` to any variable of the container's spec; ``$$`` is a literal ``$``, and an
unknown ``$(NAME)`` stays as written. Secret values are the decoded bytes, which must be UTF-8 here.

Refused (a problem each): a Secret or ConfigMap that is not rendered, a key it does not hold (unless the
reference is ``optional``), a ``fieldRef`` the runner cannot answer, ``resourceFieldRef``, a variable
name Kubernetes would not accept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.kubernetes.objects import Objects, Problems

__all__ = ["PodFields", "Service", "expand", "resolve_env", "service_links"]

Obj = dict[str, Any]
ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_LABEL_FIELD = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]")
SOURCES = {"configMapKeyRef": "ConfigMap", "secretKeyRef": "Secret"}
FROM = {"configMapRef": "ConfigMap", "secretRef": "Secret"}


@dataclass(frozen=True)
class Service:
    """What a Service link needs: its name, cluster IP and ports (name, port, protocol)."""

    name: str
    ip: str
    ports: tuple[tuple[str, int, str], ...]


def expand(text: str, mapping: Mapping[str, str]) -> str:
    """Kubernetes' ``$(NAME)`` expansion (``$$`` escapes; unknown names stay as written)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
            continue
        if text.startswith("$(", i):
            end = text.find(")", i + 2)
            if end != -1:
                name = text[i + 2 : end]
                out.append(mapping.get(name, text[i : end + 1]))
                i = end + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def service_links(services: list[Service]) -> dict[str, str]:
    """The Docker-link variables a pod gets for each Service of its namespace (``DEX_SERVICE_HOST`` ...)."""
    env: dict[str, str] = {}
    for svc in services:
        if not svc.ports:
            continue
        base = svc.name.upper().replace("-", "_")
        env[f"{base}_SERVICE_HOST"] = svc.ip
        _, first_port, first_proto = svc.ports[0]
        env[f"{base}_SERVICE_PORT"] = str(first_port)
        env[f"{base}_PORT"] = f"{first_proto.lower()}://{svc.ip}:{first_port}"
        for name, port, proto in svc.ports:
            if name:
                env[f"{base}_SERVICE_PORT_{name.upper().replace('-', '_')}"] = str(port)
            link = f"{base}_PORT_{port}_{proto.upper()}"
            env[link] = f"{proto.lower()}://{svc.ip}:{port}"
            env[f"{link}_PROTO"] = proto.lower()
            env[f"{link}_PORT"] = str(port)
            env[f"{link}_ADDR"] = svc.ip
    return env


@dataclass(frozen=True)
class PodFields:
    """What ``fieldRef`` can read: the pod's metadata and status as the runner assigns them."""

    values: Mapping[str, str]  # metadata.name, metadata.namespace, status.podIP, ...
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def get(self, path: str) -> str | None:
        match = _LABEL_FIELD.fullmatch(path)
        if match:
            source = self.labels if match.group(1) == "labels" else self.annotations
            return source.get(match.group(2), "")
        return self.values.get(path)


def resolve_env(
    container: Obj,
    path: str,
    *,
    namespace: str,
    objects: Objects,
    fields: PodFields,
    links: Mapping[str, str],
    problems: Problems,
) -> dict[str, str]:
    """The variables the container's spec defines (without the image's), in Kubernetes' precedence."""
    env: dict[str, str] = dict(links)
    for i, source in enumerate(container.get("envFrom") or []):
        env.update(_env_from(source, f"{path}.envFrom[{i}]", namespace, objects, problems))
    for i, entry in enumerate(container.get("env") or []):
        where = f"{path}.env[{i}]"
        problems.unknown(entry, where, ("name", "value", "valueFrom"))
        name = str(entry.get("name", ""))
        if not ENV_NAME.fullmatch(name):
            problems.add(f"{where}.name", f"{name!r} is not a valid variable name")
            continue
        if "valueFrom" in entry:
            value = _value_from(
                entry["valueFrom"], f"{where}.valueFrom", namespace, objects, fields, problems
            )
            if value is not None:
                env[name] = value
        else:
            env[name] = expand(str(entry.get("value", "")), env)
    return env


def _text(raw: bytes, where: str, problems: Problems) -> str | None:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        problems.add(where, "the value is not UTF-8 (the runner passes text variables only)")
        return None


def _env_from(
    source: Obj, where: str, namespace: str, objects: Objects, problems: Problems
) -> dict[str, str]:
    problems.unknown(source, where, ("prefix", *FROM))
    refs = [k for k in FROM if k in source]
    if len(refs) != 1:
        problems.add(where, "needs exactly one of configMapRef, secretRef")
        return {}
    kind, target = FROM[refs[0]], source[refs[0]]
    problems.unknown(target, f"{where}.{refs[0]}", ("name", "optional"))
    data = objects.data(kind, namespace, str(target.get("name")))
    if data is None:
        if not target.get("optional"):
            problems.add(f"{where}.{refs[0]}", f"{kind} {namespace}/{target.get('name')} is not rendered")
        return {}
    out: dict[str, str] = {}
    for key, raw in data.items():
        name = f"{source.get('prefix', '')}{key}"
        if not ENV_NAME.fullmatch(name):
            problems.add(where, f"{kind} key {key!r} gives the invalid variable name {name!r}")
            continue
        value = _text(raw, f"{where} ({kind} {namespace}/{target['name']} key {key})", problems)
        if value is not None:
            out[name] = value
    return out


def _value_from(
    source: Obj, where: str, namespace: str, objects: Objects, fields: PodFields, problems: Problems
) -> str | None:
    problems.unknown(source, where, ("fieldRef", *SOURCES))
    if "fieldRef" in source:
        field_path = str(source["fieldRef"].get("fieldPath", ""))
        value = fields.get(field_path)
        if value is None:
            problems.add(f"{where}.fieldRef.fieldPath", f"{field_path!r} is not a field the runner answers")
        return value
    refs = [k for k in SOURCES if k in source]
    if len(refs) != 1:
        problems.add(where, "needs exactly one of fieldRef, configMapKeyRef, secretKeyRef")
        return None
    kind, target = SOURCES[refs[0]], source[refs[0]]
    problems.unknown(target, f"{where}.{refs[0]}", ("name", "key", "optional"))
    name, key = str(target.get("name")), str(target.get("key"))
    data = objects.data(kind, namespace, name)
    if data is None or key not in data:
        if not target.get("optional"):
            missing = "is not rendered" if data is None else f"has no key {key!r}"
            problems.add(f"{where}.{refs[0]}", f"{kind} {namespace}/{name} {missing}")
        return None
    return _text(data[key], f"{where}.{refs[0]}", problems)

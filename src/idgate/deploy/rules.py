"""What ``idgate render kubernetes`` refuses or warns about beyond what every command checks.

:func:`kubernetes_problems` is the one place for these rules (pure: a validated config in, problems out);
:func:`idgate.config.checks.check` calls it for ``render kubernetes`` (its errors stop the render) and for
``idgate check`` (reported at the same YAML path with the same message, as warnings: see there why). The
objects themselves (:mod:`.provider`, :mod:`.proxy`) assume a config that passed. The rules:

Errors (the rendered objects could not work):

- SQLite with ``dex.replicas`` > 1: each replica would keep its own database file;
- ``idgate.kubernetes.networkPolicy`` with a deployment whose ``upstream_service`` names no namespace, or
  that has no entry in ``idgate.kubernetes.upstreamSelectors`` (a NetworkPolicy selects pods, not Services);
- nothing to render: no ``dex.ingress.host`` and no ``iap.deployments``.

Warnings (it works, but probably not as meant):

- ``idgate.kubernetes.persistence`` with PostgreSQL has no effect;
- memory requests or limits (``dex.resources``, ``iap.resources``) below what the role was measured to use
  (:mod:`idgate.deploy.sizes`): the chart's Go-sized defaults, written out, starve a Python process;
- chart keys that do not reach idgate's pods (Dex's or OAuth2-Proxy's image, ``grpc``, ``extraArgs``);
- cookie-session proxies on more than one replica (a deployment's ``replicas``, else ``iap.replicas``)
  without PostgreSQL storage: sign-out revokes a cookie through ``idgate.storage``
  (:mod:`idgate.sessions.revocations`), which only PostgreSQL shares between pods, so a copied cookie
  keeps working on the other replicas (:func:`unshared_revocations`).

:func:`render_notes` holds the render's own warning, which ``idgate check`` does not repeat since it is
about no key of the file (most files for one machine would carry it): one provider replica on SQLite
without ``idgate.kubernetes.persistence`` keeps its database in an emptyDir, lost with the pod; and
the warning above for replicas the file does not write (the chart's default of 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idgate.config.kkp import deployments, effective_options
from idgate.config.model import Config
from idgate.config.options import session_store
from idgate.deploy.sizes import MEASURED, memory_mib
from idgate.errors import Problem

__all__ = [
    "kubernetes_problems",
    "render_notes",
    "renders_provider",
    "sqlite_in_pod",
    "unshared_revocations",
    "upstream_namespace",
]


def renders_provider(config: Config) -> bool:
    """Whether ``render kubernetes`` makes the provider's objects (a ``dex`` section with a host)."""
    return config.dex is not None and bool(config.dex.ingress.host)


def sqlite_in_pod(config: Config) -> bool:
    """Whether the provider pod keeps its state in SQLite (``idgate.storage`` unset or ``sqlite://``)."""
    written = config.idgate.storage
    return written is None or written.startswith("sqlite")


def upstream_namespace(service: str) -> str | None:
    """``prometheus.monitoring.svc.cluster.local`` -> ``monitoring``; ``None`` without a namespace part."""
    parts = service.split(".")
    if len(parts) < 2 or all(p.isdigit() for p in parts):
        return None
    return parts[1]


def kubernetes_problems(config: Config) -> list[Problem]:
    """Every problem ``render kubernetes`` has with ``config``, errors and warnings, in file order."""
    problems = _storage(config) + _network_policies(config) + _sizes(config) + _unused(config)
    problems += unshared_revocations(config, written=True)
    if not renders_provider(config) and not (config.iap is not None and config.iap.deployments):
        problems.append(Problem("", "nothing to render: no dex.ingress.host and no iap.deployments"))
    return problems


def _storage(config: Config) -> list[Problem]:
    dex = config.dex
    persistence = config.idgate.kubernetes.persistence
    if dex is None or not renders_provider(config):
        return []
    if not sqlite_in_pod(config):
        if persistence.enabled:
            return [
                Problem(
                    config.path("idgate", "kubernetes", "persistence", "enabled"),
                    "has no effect: the provider keeps its state in idgate.storage (PostgreSQL)",
                    "warning",
                )
            ]
        return []
    if dex.replicas > 1:
        return [
            Problem(
                config.path("idgate", "storage"),
                f"SQLite cannot back dex.replicas: {dex.replicas}: each replica would keep its own "
                "database file, so a login started on one replica fails on another and tokens signed "
                "by one are unknown to the others; set idgate.storage to postgresql://USER@HOST/DB "
                "(or dex.replicas: 1)",
            )
        ]
    return []


def render_notes(config: Config) -> list[Problem]:
    """Warnings of ``render kubernetes`` alone (see the module docstring)."""
    return _emptydir(config) + unshared_revocations(config, written=False)


def _emptydir(config: Config) -> list[Problem]:
    dex = config.dex
    if dex is None or not renders_provider(config) or not sqlite_in_pod(config) or dex.replicas > 1:
        return []
    if config.idgate.kubernetes.persistence.enabled:
        return []
    return [
        Problem(
            config.path("idgate", "storage"),
            "the provider's SQLite database lives in an emptyDir: its signing keys, the users and "
            "clients added with `idgate user add` / `idgate client add` and every refresh token vanish "
            "whenever the pod is replaced; set idgate.kubernetes.persistence.enabled: true (a "
            "PersistentVolumeClaim) or idgate.storage: postgresql://USER@HOST/DB",
            "warning",
        )
    ]


def unshared_revocations(config: Config, *, written: bool) -> list[Problem]:
    """Cookie-session deployments on more than one replica without PostgreSQL storage (issue 18), one
    warning per place ``replicas`` is set; ``written``: only replicas the file writes (``idgate check``
    reports these), else only the chart's default (the render's own note)."""
    iap = config.iap
    scheme = (config.idgate.storage or "sqlite:").split(":", 1)[0].split("+", 1)[0].lower()
    if iap is None or scheme in ("postgresql", "postgres"):
        return []
    found: dict[tuple[str | int, ...], tuple[int, list[str]]] = {}  # where replicas is set -> names
    for key, dep in deployments(iap):
        if session_store(effective_options(iap, dep), config.idgate.sessions) != "cookie":
            continue  # Redis sessions: sign-out deletes the session in Redis
        at: tuple[str | int, ...]
        if dep.replicas is not None:
            replicas, at = dep.replicas, ("iap", "deployments", key, "replicas")
            is_written = "replicas" in dep.model_fields_set
        else:
            replicas, at, is_written = iap.replicas, ("iap", "replicas"), "replicas" in iap.model_fields_set
        if replicas > 1 and is_written == written:
            found.setdefault(at, (replicas, []))[1].append(f"'{dep.name}'")
    return [
        Problem(
            config.path(*at),
            f"{replicas} replicas of {', '.join(names)} keep sessions in cookies without a shared "
            "revocation list: a signed-out cookie is refused only by the replica that signed it out, "
            "and a copy of it keeps working on the others until it expires; set idgate.storage to "
            "postgresql://USER@HOST/DB (shared by the replicas) or use Redis sessions",
            "warning",
        )
        for at, (replicas, names) in found.items()
    ]


def _network_policies(config: Config) -> list[Problem]:
    if config.iap is None or not config.idgate.kubernetes.networkPolicy:
        return []
    problems: list[Problem] = []
    selectors = config.idgate.kubernetes.upstreamSelectors
    for key, dep in deployments(config.iap):
        if upstream_namespace(dep.upstream_service) is None:
            problems.append(
                Problem(
                    config.path("iap", "deployments", key, "upstream_service"),
                    "idgate.kubernetes.networkPolicy needs the upstream's namespace: write the Service as "
                    "<service>.<namespace>.svc.cluster.local",
                )
            )
        if not selectors.get(dep.name):
            problems.append(
                Problem(
                    config.path("idgate", "kubernetes", "upstreamSelectors"),
                    f"networkPolicy is on but '{dep.name}' has no entry: give the labels of the upstream's "
                    "pods (a NetworkPolicy selects pods, not Services), e.g. "
                    f"{dep.name}: {{app.kubernetes.io/name: {dep.name}}}",
                )
            )
    return problems


def _sizes(config: Config) -> list[Problem]:
    """A written memory request or limit below the role's measured RSS (steady for requests, peak for
    limits): the kubelet evicts or OOM-kills such a pod, however idle."""
    found: list[Problem] = []
    roles: list[tuple[str, Mapping[str, Any]]] = []
    if config.dex is not None and renders_provider(config):
        roles.append(("dex", config.dex.resources))
    if config.iap is not None and config.iap.deployments:
        roles.append(("iap", config.iap.resources))
    consequence = {"requests": "evicted first under memory pressure", "limits": "OOM-killed"}
    for section, resources in roles:
        measured = MEASURED[section]
        for kind, floor, what in (
            ("requests", measured.steady_mib, "steady-state"),
            ("limits", measured.peak_mib, "peak"),
        ):
            written = resources.get(kind)
            value = written.get("memory") if isinstance(written, Mapping) else None
            mib = memory_mib(value)
            if mib is not None and mib < floor:
                found.append(
                    Problem(
                        config.path(section, "resources", kind, "memory"),
                        f"{value} is below the {what} memory of this role ({floor:.0f} MiB measured, "
                        f"bench/RESULTS.md): the pod would be {consequence[kind]} (idgate's default: "
                        f"{measured.rendered[kind]['memory']})",
                        "warning",
                    )
                )
    return found


def _unused(config: Config) -> list[Problem]:
    found: list[Problem] = []

    def warn(loc: tuple[str | int, ...], why: str) -> None:
        found.append(Problem(config.path(*loc), why, "warning"))

    dex, iap = config.dex, config.iap
    if dex is not None:
        if dex.image is not None:
            warn(("dex", "image"), "names Dex's image; the pods run idgate's (--image)")
        if dex.grpc is not None:
            warn(("dex", "grpc"), "Dex's gRPC API has no idgate equivalent; not rendered")
    if iap is not None:
        if iap.image is not None:
            warn(("iap", "image"), "names OAuth2-Proxy's image; the pods run idgate's (--image)")
        if iap.extraArgs:
            warn(("iap", "extraArgs"), "OAuth2-Proxy flags are not passed to idgate")
        for key, dep in deployments(iap):
            if dep.extraArgs:
                warn(("iap", "deployments", key, "extraArgs"), "OAuth2-Proxy flags are not passed to idgate")
    return found

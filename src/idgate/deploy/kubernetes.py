"""``idgate render kubernetes``: the values file becomes what the ``oauth`` and ``iap`` charts create,
running idgate instead of Dex and OAuth2-Proxy.

::

    Config --render_kubernetes--> [objects]  --dump_all--> multi-document YAML (stdout)
                                             --write_dir--> DIR/<namespace>/<kind>-<name>.yaml

The provider's objects (:mod:`.provider`, namespace ``oauth``) come first, then each deployment's
(:mod:`.proxy`, namespace ``iap``), then the opt-in NetworkPolicies. How a pod gets its configuration is
:mod:`.values`. Every problem that makes the render impossible (SQLite shared by replicas, a NetworkPolicy
without its selector) is raised at once as a :class:`~idgate.errors.ConfigError` with YAML paths; keys
that idgate keeps but does not apply, and proxy replicas that cannot share sign-outs (cookie sessions
without PostgreSQL), are returned as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from idgate.config.checks import unshared_revocations
from idgate.config.kkp import deployments
from idgate.config.model import Config
from idgate.deploy.common import DEFAULT_IMAGE, Obj, RenderOptions, dump
from idgate.deploy.provider import provider_objects
from idgate.deploy.proxy import network_policy, proxy_objects
from idgate.errors import ConfigError, Problem

__all__ = ["RenderOptions", "Rendered", "render_kubernetes", "write_dir"]


@dataclass
class Rendered:
    """The objects, in apply order, and warnings about keys that have no effect on idgate."""

    objects: list[Obj]
    warnings: list[Problem] = field(default_factory=list)


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


def render_kubernetes(config: Config, options: RenderOptions | None = None) -> Rendered:
    """Every object for ``config``; raises :class:`ConfigError` with every problem found."""
    options = options or RenderOptions()
    image = options.image or config.idgate.kubernetes.image or DEFAULT_IMAGE
    problems: list[Problem] = []
    objects: list[Obj] = []
    if config.dex is not None and config.dex.ingress.host:
        try:
            objects += provider_objects(config, options.namespace_provider, image, options.certificates)
        except ConfigError as exc:
            problems += exc.problems
    policies: list[Obj] = []
    if config.iap is not None:
        for key, dep in deployments(config.iap):
            objects += proxy_objects(
                config,
                config.iap,
                dep,
                namespace=options.namespace_proxy,
                image=image,
                certificates=options.certificates,
            )
            if config.idgate.kubernetes.networkPolicy:
                policy = network_policy(config, key, dep, options.namespace_proxy, problems)
                policies += [policy] if policy else []
    if not objects and not problems:
        problems.append(Problem("", "nothing to render: no dex.ingress.host and no iap.deployments"))
    if problems:
        raise ConfigError(_unique(problems))
    return Rendered(objects + policies, _unused(config) + unshared_revocations(config, chart_defaults=True))


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        if (p.path, p.message) not in seen:
            seen.add((p.path, p.message))
            out.append(p)
    return out


def file_name(obj: Obj) -> str:
    """``<namespace>/<kind>-<name>.yaml`` (lower-case kind), unique within one render."""
    meta = obj["metadata"]
    return f"{meta['namespace']}/{obj['kind'].lower()}-{meta['name']}.yaml"


def write_dir(objects: list[Obj], out: Path) -> list[Path]:
    """Write one file per object under ``out`` (``kubectl apply -R -f out``); returns the paths written.

    Files holding Secrets are created with mode 0600.
    """
    written = []
    for obj in objects:
        path = out / file_name(obj)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(obj), encoding="utf-8")
        if obj["kind"] == "Secret":
            path.chmod(0o600)
        written.append(path)
    return written

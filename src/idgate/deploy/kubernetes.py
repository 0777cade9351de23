"""``idgate render kubernetes``: the values file becomes what the ``oauth`` and ``iap`` charts create,
running idgate instead of Dex and OAuth2-Proxy.

::

    Config --render_kubernetes--> [objects]  --dump_all--> multi-document YAML (stdout)
                                             --write_dir--> DIR/<namespace>/<kind>-<name>.yaml

The provider's objects (:mod:`.provider`, namespace ``oauth``) come first, then each deployment's
(:mod:`.proxy`, namespace ``iap``), then the opt-in NetworkPolicies. How a pod gets its configuration is
:mod:`.values`. The file is checked first, by the checks every command runs plus the render's own rules
(:mod:`.rules`: SQLite shared by replicas, a NetworkPolicy without its selector ...): an error stops the
render with every problem at once, with YAML paths, as ``idgate check`` reports them; warnings (keys that
idgate keeps but does not apply, SQLite in an emptyDir ...) are returned with the objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from idgate.config.checks import check
from idgate.config.kkp import deployments
from idgate.config.model import Config
from idgate.deploy.common import DEFAULT_IMAGE, Obj, RenderOptions, dump
from idgate.deploy.provider import provider_objects
from idgate.deploy.proxy import network_policy, proxy_objects
from idgate.deploy.rules import renders_provider
from idgate.errors import ConfigError, Problem

__all__ = ["RenderOptions", "Rendered", "render_kubernetes", "write_dir"]


@dataclass
class Rendered:
    """The objects, in apply order, and the warnings of the check (none is an error)."""

    objects: list[Obj]
    warnings: list[Problem] = field(default_factory=list)


def render_kubernetes(config: Config, options: RenderOptions | None = None) -> Rendered:
    """Every object for ``config``; raises :class:`ConfigError` with every problem when one is an error
    (``check(config, "kubernetes")``: the same rules, messages and paths as ``idgate check``)."""
    problems = check(config, "kubernetes")
    if any(p.severity == "error" for p in problems):
        raise ConfigError(problems)
    options = options or RenderOptions()
    image = options.image or config.idgate.kubernetes.image or DEFAULT_IMAGE
    objects: list[Obj] = []
    if renders_provider(config):
        objects += provider_objects(config, options.namespace_provider, image, options.certificates)
    policies: list[Obj] = []
    if config.iap is not None:
        for _, dep in deployments(config.iap):
            objects += proxy_objects(
                config,
                config.iap,
                dep,
                namespace=options.namespace_proxy,
                image=image,
                certificates=options.certificates,
            )
            if config.idgate.kubernetes.networkPolicy:
                policies.append(network_policy(config, dep, options.namespace_proxy))
    return Rendered(objects + policies, problems)


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

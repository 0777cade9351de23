"""``idgate serve --role provider|proxy [--deployment NAME]``: the part of the settings one process runs."""

from __future__ import annotations

from dataclasses import replace

from idgate.settings import Settings

__all__ = ["ROLES", "select_role"]

ROLES = ("all", "provider", "proxy")


def select_role(settings: Settings, role: str = "all", deployment: str | None = None) -> Settings:
    """The part of ``settings`` one role runs (``idgate serve --role ... [--deployment NAME]``).

    ``provider`` keeps only the provider; ``proxy`` keeps the proxies, or only ``deployment``; ``all``
    keeps everything (``deployment`` then narrows the proxies). Raises ``ValueError`` with a message for
    the operator when the role has nothing to run or the deployment does not exist.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (expected one of: {', '.join(ROLES)})")
    if deployment is not None and role == "provider":
        raise ValueError("--deployment selects a proxy deployment; it does not go with --role provider")
    provider = settings.provider if role in ("all", "provider") else None
    proxies = settings.proxies if role in ("all", "proxy") else ()
    if deployment is not None:
        proxies = tuple(p for p in proxies if p.name == deployment)
        if not proxies:
            known = ", ".join(p.name for p in settings.proxies) or "none"
            raise ValueError(f"no iap deployment named {deployment!r} (deployments: {known})")
    if role == "provider" and provider is None:
        raise ValueError("--role provider: the file has no dex section with ingress.host")
    if role == "proxy" and not proxies:
        raise ValueError("--role proxy: the file has no iap deployments")
    return replace(settings, provider=provider, proxies=proxies)

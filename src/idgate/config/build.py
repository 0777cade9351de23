"""From the validated YAML model to the frozen runtime records of :mod:`idgate.settings`.

- The provider exists when the file has a ``dex`` section with ``ingress.host``; its issuer is
  ``<scheme>://<host><path>`` without a trailing slash; unset expiry keys keep the settings' defaults.
- One proxy per ``iap.deployments`` entry, in the chart's order, with ``iap.default_configuration`` merged
  under its ``config`` (:func:`idgate.config.kkp.effective_options`). The upstream is
  ``http://<upstream_service>:<upstream_port>``; scopes come from the ``scope`` string split on spaces
  (default ``openid email profile``); ``encryption_key`` becomes the AES key bytes OAuth2-Proxy would use.
- Kubernetes-only keys (image, resources, certIssuer, ``customProviderCA`` ...) are not part of the runtime.
"""

from __future__ import annotations

from typing import Any

from idgate.config.dex import DexSection, bcrypt_hash_bytes
from idgate.config.iap import Deployment, IapSection
from idgate.config.kkp import deployments, effective_options
from idgate.config.model import Config
from idgate.settings import (
    ClientSettings,
    ProviderSettings,
    ProxySettings,
    Settings,
    StaticPassword,
)

__all__ = ["build_settings"]

DEFAULT_SCOPES = ("openid", "email", "profile")


def build_settings(config: Config) -> Settings:
    """The runtime settings for ``config`` (which :func:`idgate.config.load_config` has validated)."""
    section = config.idgate
    provider = _provider(config.dex) if config.dex is not None and config.dex.issuer else None
    proxies: tuple[ProxySettings, ...] = ()
    if config.iap is not None:
        proxies = tuple(_proxy(config.iap, dep) for _, dep in deployments(config.iap))
    return Settings(
        listen=section.listen,
        storage=section.storage_url,
        sessions=section.sessions,
        data_dir=section.data_dir,
        provider=provider,
        proxies=proxies,
    )


def _provider(dex: DexSection) -> ProviderSettings:
    expiry: dict[str, Any] = {}
    for field, value in (
        ("id_token_ttl", dex.expiry.idTokens),
        ("signing_key_ttl", dex.expiry.signingKeys),
        ("auth_request_ttl", dex.expiry.authRequests),
    ):
        if value is not None:
            expiry[field] = value
    clients = tuple(
        ClientSettings(
            id=c.id, secret=c.secret, name=c.name, redirect_uris=tuple(c.redirect_uris), public=c.public
        )
        for c in dex.clients
    )
    passwords = tuple(
        StaticPassword(
            email=p.email,
            hash=bcrypt_hash_bytes(p.hash) or b"",  # validated: never empty
            username=p.username or p.email,
            user_id=p.userID,
        )
        for p in dex.staticPasswords
    )
    return ProviderSettings(
        issuer=dex.issuer,
        clients=clients,
        static_passwords=passwords,
        display_name=dex.frontend.issuer,
        **expiry,
    )


def _proxy(iap: IapSection, dep: Deployment) -> ProxySettings:
    opts = effective_options(iap, dep)
    optional: dict[str, Any] = {}
    if opts.cookie_expire is not None:
        optional["cookie_expire"] = opts.cookie_expire
    return ProxySettings(
        name=dep.name,
        host=dep.ingress.host,
        upstream=f"http://{dep.upstream_service}:{dep.upstream_port}",
        issuer_url=iap.oidc_issuer_url or "",  # as written: some issuers end in "/"
        client_id=dep.client_id,
        client_secret=dep.client_secret,
        encryption_key=dep.encryption_key_bytes,
        scopes=tuple(opts.scope.split()) if opts.scope and opts.scope.strip() else DEFAULT_SCOPES,
        email_domains=tuple(opts.email_domains),
        github_org=opts.github_org,
        github_team=opts.github_team,
        allowed_groups=tuple(opts.allowed_groups),
        skip_auth_regex=tuple(opts.skip_auth_regex),
        pass_user_headers=opts.pass_user_headers,
        cookie_name=opts.cookie_name or "",
        cookie_secure=opts.cookie_secure,
        redirect_url=opts.redirect_url,
        insecure_allow_unverified_email=opts.insecure_oidc_allow_unverified_email,
        whitelist_domains=tuple(opts.whitelist_domains),
        **optional,
    )

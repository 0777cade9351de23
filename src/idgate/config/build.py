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

import dataclasses
from typing import Any

from idgate.config.dex import DexSection, bcrypt_hash_bytes
from idgate.config.iap import Deployment, IapSection, deployment_extensions
from idgate.config.kkp import deployments, effective_options
from idgate.config.model import Config
from idgate.config.options import runtime_options
from idgate.config.server import IdgateSection
from idgate.config.theme_files import decode_base64
from idgate.config.tls import TlsSection
from idgate.settings import (
    ClientSettings,
    ConnectorSettings,
    LoginLimits,
    ProviderSettings,
    ProxySettings,
    Settings,
    StaticPassword,
    TlsSettings,
)

__all__ = ["build_settings"]

DEFAULT_SCOPES = ("openid", "email", "profile")


def build_settings(config: Config) -> Settings:
    """The runtime settings for ``config`` (which :func:`idgate.config.load_config` has validated)."""
    section = config.idgate
    provider = _provider(config.dex) if config.dex is not None and config.dex.issuer else None
    if provider is not None and config.dex is not None:
        provider = dataclasses.replace(provider, **_provider_options(config.dex, section))
    proxies: tuple[ProxySettings, ...] = ()
    if config.iap is not None:
        proxies = tuple(_proxy(config.iap, dep, section.sessions) for _, dep in deployments(config.iap))
    return Settings(
        listen=section.listen,
        tls=_tls(section.tls),
        health_listen=section.health_listen,
        metrics_listen=section.effective_metrics_listen,
        metrics_optional="metrics_listen" not in section.model_fields_set,
        storage=section.storage_url,
        storage_pool_size=section.storage_pool_size,
        session_memo_size=section.session_memo_size,
        sessions=section.sessions,
        data_dir=section.data_dir,
        provider=provider,
        proxies=proxies,
        strip_headers=tuple(section.identity_headers.strip),
        allow_headers=tuple(section.identity_headers.allow),
    )


def _tls(tls: TlsSection | None) -> TlsSettings | None:
    if tls is None:
        return None
    return TlsSettings(tls.cert, tls.key, tls.redirect_http, tls.reload_interval)


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
            id=c.id,
            secret=c.secret,
            name=c.name,
            redirect_uris=tuple(c.redirect_uris),
            public=c.public,
            trusted_peers=tuple(c.trusted_peers),
            post_logout_redirect_uris=tuple(c.post_logout_redirect_uris),
            allowed_connectors=tuple(c.allowed_connectors),
            require_pkce=c.require_pkce,
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
    connectors = tuple(
        ConnectorSettings(type=c.type, id=c.id, name=c.name or c.id, config=dict(c.config))
        for c in dex.connectors
    )
    return ProviderSettings(
        issuer=dex.issuer,
        clients=clients,
        static_passwords=passwords,
        display_name=dex.frontend.issuer or "",
        logo_url=dex.frontend.logo_url or "",
        theme_name=dex.frontend.theme or "",
        web_dir=dex.frontend.dir or "",
        theme_files=tuple((name, decode_base64(value) or b"") for name, value in dex.theme.items()),
        connectors=connectors,
        **expiry,
    )


def _provider_options(dex: DexSection, section: IdgateSection) -> dict[str, Any]:
    """The provider settings beyond the basics: refresh token and device lifetimes, ``oauth2``, and
    idgate's own keys (signing algorithm, login session lifetime, login throttle limits)."""
    options: dict[str, Any] = {
        "signing_algorithm": section.signing_algorithm,
        "login_session_ttl": section.login_session_lifetime,
        "response_types": tuple(dict.fromkeys(dex.oauth2.responseTypes)),
        "password_connector": dex.oauth2.passwordConnector,
        "always_show_login_screen": dex.oauth2.alwaysShowLoginScreen,
        "skip_approval_screen": dex.oauth2.skipApprovalScreen,
        "login_limits": LoginLimits(**section.login_throttle.model_dump()),
    }
    if dex.expiry.deviceRequests is not None:
        options["device_request_ttl"] = dex.expiry.deviceRequests
    refresh = dex.expiry.refreshTokens
    if refresh is not None:
        options["refresh_idle_ttl"] = refresh.validIfNotUsedFor
        options["refresh_absolute_ttl"] = refresh.absoluteLifetime
        if refresh.reuseInterval is not None:
            options["refresh_reuse_interval"] = refresh.reuseInterval
        options["refresh_rotation"] = not refresh.disableRotation
    return options


def _proxy(iap: IapSection, dep: Deployment, sessions: str = "cookie") -> ProxySettings:
    opts = effective_options(iap, dep)
    optional: dict[str, Any] = {}
    if opts.cookie_expire is not None:
        optional["cookie_expire"] = opts.cookie_expire
    optional.update(runtime_options(opts, sessions))  # every other supported option (config/options.py)
    optional.update(deployment_extensions(iap, dep))  # idgate's deployment-level extensions
    return ProxySettings(
        name=dep.name,
        host=dep.ingress.host,
        upstream=optional.pop("upstream", f"http://{dep.upstream_service}:{dep.upstream_port}"),
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

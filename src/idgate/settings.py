"""What each role runs from: frozen, validated settings built from the config (``idgate.config.build``).

The web layers, the edge and the cores never see the YAML model; they take these records. Durations
are seconds, secrets are plain ``str``/``bytes`` already resolved from ``$ENV`` or ``*_file``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEME_PORTS = {"http": 80, "https": 443}


def split_host(host: str) -> tuple[str, int | None]:
    """``"Example.COM:8080"`` -> ``("example.com", 8080)``; IPv6 literals keep their brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[: end + 1], host[end + 1 :]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name.rstrip("."), (int(port) if port.isdigit() else None)


def hostname(host: str) -> str:
    """The routing key of a ``Host`` value: lower-case, without port or trailing dot."""
    return split_host(host)[0]


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """An OAuth client of the provider (``dex.clients[]``)."""

    id: str
    secret: str
    name: str = ""
    redirect_uris: tuple[str, ...] = ()
    public: bool = False  # Dex's ``public: true``: no secret; PKCE is what protects it
    trusted_peers: tuple[str, ...] = ()  # trustedPeers: clients that may put this one in their audience
    post_logout_redirect_uris: tuple[str, ...] = ()  # postLogoutRedirectURIs (RP-initiated logout)
    allowed_connectors: tuple[str, ...] = ()  # allowedConnectors; empty: every connector
    require_pkce: bool = True  # requirePKCE: false lets a confidential client skip PKCE


@dataclass(frozen=True, slots=True)
class StaticPassword:
    """A local user from ``dex.staticPasswords`` (``hash`` is bcrypt, as Dex keeps it)."""

    email: str
    hash: bytes
    username: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """An upstream identity source (``dex.connectors[]``); ``config`` is the raw block, which the connector's
    typed model (``idgate.connectors.registry``) validated at config-load time and parses again to open it."""

    type: str
    id: str
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Password login throttling (``idgate.login_throttle``; :mod:`idgate.provider.throttle`): how many
    failures a key may have in ``window`` seconds before it is locked for ``lockout`` seconds, and how
    long every failure or refusal takes to answer."""

    account_failures: int = 5
    address_failures: int = 30  # many people may share one address (NAT, a company proxy)
    window: float = 900.0
    lockout: float = 900.0
    failure_delay: float = 1.0


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """The provider role: Dex's configuration as the ``oauth`` chart renders it."""

    issuer: str  # <dex.ingress.scheme>://<dex.ingress.host><dex.ingress.path>, no trailing slash
    clients: tuple[ClientSettings, ...] = ()
    static_passwords: tuple[StaticPassword, ...] = ()
    id_token_ttl: float = 24 * 3600.0  # dex.expiry.idTokens
    signing_key_ttl: float = 6 * 3600.0  # dex.expiry.signingKeys
    auth_request_ttl: float = 24 * 3600.0  # dex.expiry.authRequests
    code_ttl: float = 60.0
    display_name: str = ""  # dex.frontend.issuer; empty: the pages show no name
    device_request_ttl: float = 300.0  # dex.expiry.deviceRequests
    refresh_idle_ttl: float | None = None  # dex.expiry.refreshTokens.validIfNotUsedFor (None: forever)
    refresh_absolute_ttl: float | None = None  # dex.expiry.refreshTokens.absoluteLifetime
    refresh_reuse_interval: float = 0.0  # dex.expiry.refreshTokens.reuseInterval
    refresh_rotation: bool = True  # not dex.expiry.refreshTokens.disableRotation
    refresh_tokens_per_client: int = 10  # live refresh token families per user and client
    login_session_ttl: float = 24 * 3600.0  # the provider's SSO session (idgate.login_session_lifetime)
    signing_algorithm: str = "RS256"  # idgate.signing_algorithm: RS256 or ES256
    response_types: tuple[str, ...] = ("code",)  # dex.oauth2.responseTypes
    connectors: tuple[ConnectorSettings, ...] = ()  # dex.connectors, in file order
    password_connector: str | None = None  # dex.oauth2.passwordConnector: enables grant_type=password
    always_show_login_screen: bool = False  # dex.oauth2.alwaysShowLoginScreen
    skip_approval_screen: bool = True  # dex.oauth2.skipApprovalScreen (false: ask the person; prompt=consent)
    logo_url: str = ""  # dex.frontend.logoURL; empty: the theme's logo.svg
    theme_name: str = ""  # dex.frontend.theme: "light"/"dark" force a colour scheme; names the dir's theme
    web_dir: str = ""  # dex.frontend.dir: its themes/<theme_name or light>/ files are theme files
    theme_files: tuple[tuple[str, bytes], ...] = ()  # dex.theme, decoded: file name -> content
    login_limits: LoginLimits = field(default_factory=LoginLimits)  # idgate.login_throttle

    @property
    def host(self) -> str:
        """Routing key of the issuer's host."""
        return hostname(self.issuer.split("://", 1)[1].split("/", 1)[0])

    @property
    def path(self) -> str:
        """The issuer's path prefix, e.g. ``/dex`` (``""`` when the issuer is a bare origin)."""
        rest = self.issuer.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else ""


@dataclass(frozen=True, slots=True)
class RouteRule:
    """An idgate per-route rule (a deployment's ``routes:``): extra conditions for matching requests.

    ``path`` is a regular expression searched in the normalised path; ``methods`` empty means any
    method. A request may pass only if it meets every non-empty list (``allowed_groups``: one of them;
    ``allowed_emails``: exactly one of them; ``allowed_email_domains``: the address's domain).
    """

    path: str
    methods: tuple[str, ...] = ()
    allowed_groups: tuple[str, ...] = ()
    allowed_emails: tuple[str, ...] = ()
    allowed_email_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """One protected service (an ``iap.deployments`` entry) with OAuth2-Proxy's option meanings."""

    name: str  # entry's ``name``; names the cookie ``<name>_oauth2_proxy``
    host: str  # ingress.host as written (may carry a port)
    upstream: str  # http://<upstream_service>:<upstream_port>
    issuer_url: str  # iap.oidc_issuer_url
    client_id: str
    client_secret: str
    encryption_key: bytes  # 16/24/32 bytes; session and CSRF keys are derived from it per purpose
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    email_domains: tuple[str, ...] = ()  # "*" = any; empty = nobody
    github_org: str | None = None
    github_team: str | None = None
    allowed_groups: tuple[str, ...] = ()
    skip_auth_regex: tuple[str, ...] = ()
    pass_user_headers: bool = True
    cookie_name: str = ""  # default <name>_oauth2_proxy
    cookie_expire: float = 168 * 3600.0
    cookie_secure: bool | None = None  # None: Secure unless the request arrived over plain http
    redirect_url: str | None = None  # fixed callback URL; default <scheme>://<host>/oauth/callback
    insecure_allow_unverified_email: bool = False
    provider_ca_file: str | None = None
    # Hosts other than ``host`` that a post-login ``rd`` may point at (``whitelist_domains``).
    whitelist_domains: tuple[str, ...] = ()
    # -- issue 4: every OAuth2-Proxy option idgate supports, with OAuth2-Proxy's defaults --------
    previous_encryption_keys: tuple[bytes, ...] = ()  # idgate extension: older keys, open-only
    authenticated_emails: tuple[str, ...] = ()  # authenticated_emails_file, read at start-up
    skip_auth_routes: tuple[tuple[str, str], ...] = ()  # (METHOD or "", regex)
    skip_auth_preflight: bool = False
    api_routes: tuple[str, ...] = ()
    skip_jwt_bearer_tokens: bool = False
    extra_jwt_issuers: tuple[tuple[str, str], ...] = ()  # (issuer, audience)
    pass_access_token: bool = False
    pass_authorization_header: bool = False
    set_xauthrequest: bool = False
    set_authorization_header: bool = False
    prefer_email_to_user: bool = False
    pass_host_header: bool = True
    cookie_domains: tuple[str, ...] = ()
    cookie_path: str = "/"
    cookie_refresh: float = 0.0  # 0: never refresh
    refresh_grace: float = (
        300.0  # idgate extension: provider unreachable at refresh: kept this long, then ended
    )
    cookie_httponly: bool = True
    cookie_samesite: str = "lax"  # idgate default (browsers assume it too); "strict", "none", "" (unset)
    approval_prompt: str = "force"
    prompt: str = ""
    oidc_groups_claim: str = "groups"
    oidc_email_claim: str = "email"
    reverse_proxy: bool = True  # the chart passes --reverse-proxy=true
    real_client_ip_header: str = "X-Real-IP"
    trusted_proxy_ips: tuple[str, ...] = ()  # empty: loopback and private networks (see idgate.edge.trust)
    upstream_timeout: float = 30.0
    flush_interval: float = 1.0
    ssl_upstream_insecure_skip_verify: bool = False
    session_store: str = "cookie"  # "cookie" or a redis:// URL
    custom_sign_in_logo: str = ""
    banner: str = ""
    footer: str = ""
    skip_provider_button: bool = True  # the chart passes --skip-provider-button=true
    code_challenge_method: str = "S256"
    ping_path: str = "/oauth/healthy"
    routes: tuple[RouteRule, ...] = ()  # idgate extension: per-route rules
    pass_idgate_assertion: bool = True  # idgate extension: X-Idgate-Assertion to the upstream

    @property
    def routing_host(self) -> str:
        return hostname(self.host)

    @property
    def session_cookie(self) -> str:
        return self.cookie_name or f"{self.name}_oauth2_proxy"

    @property
    def csrf_cookie(self) -> str:
        return f"{self.session_cookie}_csrf"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """``idgate.tls``: the public listener serves HTTPS from these PEM files (:mod:`idgate.runtime.tls`)."""

    cert: str  # the certificate, then its intermediates
    key: str  # its private key
    redirect_http: str | None = None  # a plain-HTTP listener that only redirects to https
    reload_interval: float = 15.0  # how often the files are checked for a renewal


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``idgate serve`` runs: which roles, where to listen, where to keep state."""

    listen: str = "127.0.0.1:4180"
    tls: TlsSettings | None = None  # idgate.tls: HTTPS on ``listen``; None: plain HTTP
    health_listen: str | None = None  # probes and metrics (idgate.runtime.health); off when None
    metrics_listen: str | None = None  # /metrics and probes (idgate.runtime.metrics); off when None
    metrics_optional: bool = False  # the default address: a port in use is a warning, not an error
    storage: str = "sqlite:///data/idgate.db"
    storage_pool_size: int = 10  # idgate.storage_pool_size: PostgreSQL connections per process
    session_memo_size: int = 10_000  # idgate.session_memo_size: verified cookies remembered per deployment
    sessions: str = "cookie"
    data_dir: str = "data"
    provider: ProviderSettings | None = None
    proxies: tuple[ProxySettings, ...] = field(default_factory=tuple)
    # Demo mode: serve the built-in upstream page (``idgate.runtime.demo_upstream``) on this address.
    demo_upstream: str | None = None
    # idgate.identity_headers: client headers removed besides the defaults, and defaults let through
    strip_headers: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()

    def proxy(self, name: str) -> ProxySettings:
        for p in self.proxies:
            if p.name == name:
                return p
        raise KeyError(name)

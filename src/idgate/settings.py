"""What each role runs from: frozen, validated settings built from the config (``idgate.config.build``).

The web layers, the edge and the cores never see the YAML model; they take these records. Durations
are seconds, secrets are plain ``str``/``bytes`` already resolved from ``$ENV`` or ``*_file``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class StaticPassword:
    """A local user from ``dex.staticPasswords`` (``hash`` is bcrypt, as Dex keeps it)."""

    email: str
    hash: bytes
    username: str
    user_id: str


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
    display_name: str = "dex"  # dex.frontend.issuer

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
class Settings:
    """Everything ``idgate serve`` runs: which roles, where to listen, where to keep state."""

    listen: str = "127.0.0.1:4180"
    storage: str = "sqlite:///data/idgate.db"
    sessions: str = "cookie"
    data_dir: str = "data"
    provider: ProviderSettings | None = None
    proxies: tuple[ProxySettings, ...] = field(default_factory=tuple)
    # Demo mode: serve the built-in upstream page (``idgate.demo``) on this address.
    demo_upstream: str | None = None

    def proxy(self, name: str) -> ProxySettings:
        for p in self.proxies:
            if p.name == name:
                return p
        raise KeyError(name)

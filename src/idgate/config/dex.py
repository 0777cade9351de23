"""The ``dex:`` section: the Kubermatic ``oauth`` chart's values (kkp-values.md §1.1), key by key.

Keys that only matter to a Kubernetes render (image, resources, affinity, grpc ...) are accepted
and kept. Client, connector, static password and expiry keys are matched case-insensitively, as Dex
does; :mod:`idgate.config.kkp` folds them to the spellings used here before validation (``RedirectURIs``
becomes ``redirectURIs``) and maps error paths back to what was written.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from idgate.config.addresses import IngressHost
from idgate.config.theme_files import decode_base64, name_problem
from idgate.config.types import Duration, Raw, RawList, Strict, did_you_mean

__all__ = [
    "CONNECTOR_TYPES",
    "Client",
    "Connector",
    "DexSection",
    "Expiry",
    "OAuth2",
    "StaticPassword",
    "bcrypt_hash_bytes",
]

CONNECTOR_TYPES = ("local", "github", "ldap", "oidc", "gitlab", "google")


class Image(Strict):
    repository: str | None = None
    tag: str | None = None
    pullPolicy: str | None = None  # the chart's key


def _absolute_path(value: str) -> str:
    if value and not value.startswith("/"):
        raise PydanticCustomError("path", "expected a path starting with '/', such as /dex")
    return value


class DexIngress(Strict):
    """Where the provider is reachable; also the issuer ``<scheme>://<host><path>``."""

    host: IngressHost = ""
    path: Annotated[str, AfterValidator(_absolute_path)] = "/dex"
    scheme: Literal["http", "https"] = "https"
    class_: str = Field(default="nginx", alias="class")  # ``non-existent`` suppresses the Ingress
    annotations: Raw = Field(default_factory=dict)


class RefreshTokens(Strict):
    validIfNotUsedFor: Duration | None = None
    absoluteLifetime: Duration | None = None
    reuseInterval: Duration | None = None
    disableRotation: bool = False


class Expiry(Strict):
    """Token and key lifetimes, as Go durations (``6h``); ``None`` keeps Dex's default."""

    signingKeys: Duration | None = None
    idTokens: Duration | None = None
    authRequests: Duration | None = None
    deviceRequests: Duration | None = None
    refreshTokens: RefreshTokens | None = None


class Frontend(Strict):
    """Dex's web frontend settings; see "Theming" in docs/recipes.md."""

    # The display name on the pages (in titles, beside the logo); unset: no name is shown.
    issuer: str | None = None
    # The logo: `theme/<file>` (a file of the theme), a path or a URL; unset: `theme/logo.svg`.
    logo_url: str | None = Field(default=None, alias="logoURL")
    # A Dex web directory: the files of its `themes/<theme>/` override the built-in theme (read at start).
    dir: str | None = None
    # `light` or `dark`: that colour scheme always (unset: as the browser prefers); names the `dir` theme.
    theme: str | None = None


def _theme_name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise PydanticCustomError("theme_file", problem)
    return value


def _theme_content(value: str) -> str:
    if decode_base64(value) is None:
        raise PydanticCustomError("base64", "expected the file's content in base64")
    return value


ThemeFileName = Annotated[str, AfterValidator(_theme_name)]
ThemeContent = Annotated[str, AfterValidator(_theme_content)]


class GrpcCerts(Strict):
    caCert: str | None = None  # already base64, as the chart writes them
    serverCert: str | None = None
    serverKey: str | None = None


class Grpc(Strict):
    """Dex's optional gRPC API; the list-like keys are raw YAML appended verbatim by the chart."""

    api: Raw = Field(default_factory=dict)
    certs: GrpcCerts | None = None
    certMount: Any = None
    certVolume: Any = None
    service: Any = None
    ingress: Any = None


class CertIssuer(Strict):
    name: str = "letsencrypt-prod"
    kind: str = "ClusterIssuer"


def _known_type(value: str) -> str:
    if value not in CONNECTOR_TYPES:
        raise PydanticCustomError(
            "connector_type",
            "unknown connector type '{type}'{hint} (known: {known})",
            {
                "type": value,
                "hint": did_you_mean(value, CONNECTOR_TYPES),
                "known": ", ".join(CONNECTOR_TYPES),
            },
        )
    return value


class Connector(Strict):
    """An upstream identity source. ``config`` is kept as given; each connector type validates its own."""

    type: Annotated[str, AfterValidator(_known_type)]
    id: str
    name: str = ""
    config: Raw = Field(default_factory=dict)


class Client(Strict):
    """A static OAuth client (Dex ``staticClients``)."""

    id: str
    name: str = ""
    secret: str = ""
    redirect_uris: list[str] = Field(default_factory=list, alias="redirectURIs")
    public: bool = False
    trusted_peers: list[str] = Field(default_factory=list, alias="trustedPeers")
    logo_url: str | None = Field(default=None, alias="logoURL")
    # idgate: where RP-initiated logout may send the browser back to (exact match).
    post_logout_redirect_uris: list[str] = Field(default_factory=list, alias="postLogoutRedirectURIs")
    # idgate: the connectors this client may log in with (empty: all).
    allowed_connectors: list[str] = Field(default_factory=list, alias="allowedConnectors")
    # idgate: PKCE (S256) is required unless this is false; public clients always need it.
    require_pkce: bool = Field(default=True, alias="requirePKCE")


def bcrypt_hash_bytes(value: str) -> bytes | None:
    """The bcrypt hash as bytes: Dex takes it as written (``$2a$10$...``) or base64-encoded."""
    if value.startswith("$2"):
        return value.encode()
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if decoded.startswith(b"$2") else None


def _is_bcrypt(value: str) -> str:
    if bcrypt_hash_bytes(value) is None:
        raise PydanticCustomError(
            "bcrypt", "expected a bcrypt hash such as $2a$10$... (or its base64 encoding)"
        )
    return value


def _is_email(value: str) -> str:
    from idgate.connectors.email import email_problem

    problem = email_problem(value)
    if problem is not None:
        raise PydanticCustomError(
            "email", "expected one email address such as jane@example.com: {problem}", {"problem": problem}
        )
    return value


class StaticPassword(Strict):
    """A local user of the password database."""

    email: Annotated[str, AfterValidator(_is_email)]
    hash: Annotated[str, AfterValidator(_is_bcrypt)]
    username: str = ""
    userID: str


ResponseType = Literal["code", "token", "id_token"]


def _code_only() -> list[ResponseType]:
    return ["code"]


class OAuth2(Strict):
    """Dex's ``oauth2`` block. ``token`` / ``id_token`` turn on the implicit flow; ``passwordConnector``
    turns on ``grant_type=password`` through that connector. Both are off by default."""

    responseTypes: list[ResponseType] = Field(default_factory=_code_only)
    # ``false``: after the login the person grants or denies what the client asks (its scopes, in words);
    # ``prompt=consent`` shows that screen anyway. Dex's default is ``false``; idgate's is ``true`` (no
    # screen, as before the screen existed), so write ``false`` to get Dex's screen.
    skipApprovalScreen: bool = True
    alwaysShowLoginScreen: bool = False
    passwordConnector: str | None = None


class DexSection(Strict):
    """The ``dex:`` section. The legacy ``staticPasswordLogins`` arrives here as ``staticPasswords``."""

    image: Image | None = None
    imagePullSecrets: RawList = Field(default_factory=list)
    replicas: int = Field(default=2, ge=0)
    env: RawList = Field(default_factory=list)
    ingress: DexIngress = Field(default_factory=DexIngress)
    expiry: Expiry = Field(default_factory=Expiry)
    frontend: Frontend = Field(default_factory=Frontend)
    connectors: list[Connector] = Field(default_factory=list)
    oauth2: OAuth2 = Field(default_factory=OAuth2)
    clients: list[Client] = Field(default_factory=list)
    staticPasswords: list[StaticPassword] = Field(default_factory=list)
    grpc: Grpc | None = None
    resources: Raw = Field(default_factory=dict)
    nodeSelector: Raw = Field(default_factory=dict)
    affinity: Raw = Field(default_factory=dict)
    tolerations: RawList = Field(default_factory=list)
    extraVolumes: RawList = Field(default_factory=list)
    extraVolumeMounts: RawList = Field(default_factory=list)
    certIssuer: CertIssuer | None = Field(default_factory=CertIssuer)  # null disables
    theme: dict[ThemeFileName, ThemeContent] = Field(default_factory=dict)
    nameOverride: str | None = None

    @property
    def issuer(self) -> str:
        """``<scheme>://<host><path>`` without a trailing slash (``""`` when no host is set)."""
        if not self.ingress.host:
            return ""
        return f"{self.ingress.scheme}://{self.ingress.host}{self.ingress.path}".rstrip("/")

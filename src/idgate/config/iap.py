"""The ``iap:`` section: the Kubermatic ``iap`` chart's values (kkp-values.md §2.1, §2.2), key by key.

``deployments`` is a map whose keys are never used as names (every object is named from the entry's
``name``); a list is accepted too. :mod:`idgate.config.kkp` turns either into an ordered map before
validation: map entries sorted by key (as Go's template ``range`` does), list entries keyed ``[0]``,
``[1]`` ... so that error paths read ``iap.deployments.prometheus.name`` or ``iap.deployments[0].name``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from idgate.config.addresses import IngressHost, UpstreamHost, WebUrl
from idgate.config.dex import Image
from idgate.config.options import ProxyOptions
from idgate.config.types import AES_KEY_LENGTHS, Duration, Port, Raw, RawList, Strict, cookie_secret_bytes

__all__ = ["CHART_PLACEHOLDER_ISSUER", "Deployment", "DeploymentIngress", "IapSection"]

CHART_PLACEHOLDER_ISSUER = "https://kubermatic.tld/dex"


def _aes_key(value: str) -> str:
    if cookie_secret_bytes(value) is None:
        raise PydanticCustomError(
            "encryption_key",
            "must be 16, 24 or 32 characters, got {length} (`idgate secret` makes one of 32)",
            {"length": len(value.encode())},
        )
    return value


EncryptionKey = Annotated[str, AfterValidator(_aes_key)]
"""16, 24 or 32 characters, or the base64 form of 16, 24 or 32 bytes (OAuth2-Proxy's cookie secret)."""


class IapCertIssuer(Strict):
    name: str = "letsencrypt-prod"  # empty disables Certificates (2.15-2.16)
    kind: str = "ClusterIssuer"


class CustomProviderCA(Strict):
    """A private CA for the provider. The chart mounts the Secret key at ``/etc/ssl/certs/<secretKey>``;
    ``file`` (an idgate extension) names another path, for runs outside Kubernetes."""

    secretName: str
    secretKey: str
    file: str | None = None

    @property
    def path(self) -> str:
        return self.file or f"/etc/ssl/certs/{self.secretKey}"


def _methods(value: list[str]) -> list[str]:
    for method in value:
        if not method.isalpha() or not method.isupper():
            raise PydanticCustomError("method", "expected HTTP methods in capitals such as GET or POST")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex", "invalid regular expression: {error}", {"error": str(exc)}
        ) from None
    return value


class RouteRuleConfig(Strict):
    """An idgate extension: ``routes: [{path: '^/api/v1/admin/', methods: [POST], allowed_groups: [...]}]``.

    Evaluated on the normalised path, after the deployment's own rules; every matching rule must pass.
    """

    path: Annotated[str, AfterValidator(_regex)]
    methods: Annotated[list[str], AfterValidator(_methods)] = Field(default_factory=list)
    allowed_groups: list[str] = Field(default_factory=list)
    allowed_emails: list[str] = Field(default_factory=list)
    allowed_email_domains: list[str] = Field(default_factory=list)


class DeploymentIngress(Strict):
    host: IngressHost
    annotations: Raw = Field(default_factory=dict)
    tlsSecretName: str | None = None
    class_: str = Field(default="nginx", alias="class")


class Deployment(Strict):
    """One protected service. ``config`` holds its OAuth2-Proxy options: the keys of
    ``iap.default_configuration``."""

    name: str
    replicas: int | None = Field(default=None, ge=0)
    client_id: str
    client_secret: str
    encryption_key: EncryptionKey
    existingSecret: str | None = None  # 2.31+: the three secrets live in that Secret
    upstream_service: UpstreamHost
    upstream_port: Port
    ingress: DeploymentIngress
    config: ProxyOptions = Field(default_factory=ProxyOptions)
    extraArgs: list[str] = Field(default_factory=list)
    passthrough: list[str] | None = None  # Gatekeeper era; replaced by config.skip_auth_regex
    # idgate extensions (the chart's templates ignore keys they do not know):
    routes: list[RouteRuleConfig] = Field(default_factory=list)  # per-route rules
    previous_encryption_keys: list[EncryptionKey] = Field(default_factory=list)  # rotation: open-only
    pass_idgate_assertion: bool = True  # X-Idgate-Assertion (signed identity) to the upstream
    upstream_scheme: Literal["http", "https"] = "http"  # https: TLS to the upstream
    # With cookie_refresh: how long past its refresh point a session is kept while the provider cannot
    # be reached; then it ends (an invalid answer ends it at once).
    refresh_grace: Duration = 300.0

    @property
    def previous_key_bytes(self) -> tuple[bytes, ...]:
        """The older keys, decoded like ``encryption_key``, newest first as written."""
        return tuple(cookie_secret_bytes(k) or b"" for k in self.previous_encryption_keys)

    @property
    def encryption_key_bytes(self) -> bytes:
        """The AES key, decoded the way OAuth2-Proxy decodes its cookie secret."""
        key = cookie_secret_bytes(self.encryption_key)
        assert key is not None and len(key) in AES_KEY_LENGTHS  # validated above
        return key


def _default_configuration() -> ProxyOptions:
    return ProxyOptions(approval_prompt="none")


class IapSection(Strict):
    """The ``iap:`` section."""

    image: Image | None = None
    imagePullSecrets: RawList = Field(default_factory=list)
    oidc_issuer_url: WebUrl | None = None  # required when there are deployments (see kkp.required)
    discovery_url: str | None = None  # Gatekeeper era, ignored
    port: Port = 3000
    replicas: int = Field(default=2, ge=0)
    certIssuer: IapCertIssuer | None = Field(default_factory=IapCertIssuer)
    customProviderCA: CustomProviderCA | None = None
    custom_provider_ca_secret: str | None = None  # stale key in the chart's values.yaml, unused
    resources: Raw = Field(default_factory=dict)
    affinity: Raw = Field(default_factory=dict)
    nodeSelector: Raw = Field(default_factory=dict)
    tolerations: RawList = Field(default_factory=list)
    default_configuration: ProxyOptions = Field(default_factory=_default_configuration)
    extraArgs: list[str] = Field(default_factory=list)
    deployments: dict[str, Deployment] = Field(default_factory=dict)


class HttpRoute(Strict):
    """Top-level ``httpRoute`` (2.30+): Gateway API instead of Ingress; kept for rendering."""

    gatewayName: str | None = None
    gatewayNamespace: str | None = None
    timeout: str | None = None
    externalGateway: bool | None = None


def deployment_extensions(iap: IapSection, dep: Deployment) -> dict[str, Any]:
    """The :class:`~idgate.settings.ProxySettings` fields from idgate's deployment-level extensions."""
    from idgate.settings import RouteRule

    out: dict[str, Any] = {
        "previous_encryption_keys": dep.previous_key_bytes,
        "pass_idgate_assertion": dep.pass_idgate_assertion,
        "refresh_grace": dep.refresh_grace,
        "routes": tuple(
            RouteRule(
                path=r.path,
                methods=tuple(r.methods),
                allowed_groups=tuple(r.allowed_groups),
                allowed_emails=tuple(e.lower() for e in r.allowed_emails),
                allowed_email_domains=tuple(d.lower() for d in r.allowed_email_domains),
            )
            for r in dep.routes
        ),
    }
    if dep.upstream_scheme == "https":
        out["upstream"] = f"https://{dep.upstream_service}:{dep.upstream_port}"
    if iap.customProviderCA is not None:
        out["provider_ca_file"] = iap.customProviderCA.path
    return out

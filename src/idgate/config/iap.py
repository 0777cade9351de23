"""The ``iap:`` section: the Kubermatic ``iap`` chart's values (kkp-values.md §2.1, §2.2), key by key.

``deployments`` is a map whose keys are never used as names (every object is named from the entry's
``name``); a list is accepted too. :mod:`idgate.config.kkp` turns either into an ordered map before
validation: map entries sorted by key (as Go's template ``range`` does), list entries keyed ``[0]``,
``[1]`` ... so that error paths read ``iap.deployments.prometheus.name`` or ``iap.deployments[0].name``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from idgate.config.dex import Image
from idgate.config.options import ProxyOptions
from idgate.config.types import AES_KEY_LENGTHS, Port, Raw, RawList, Strict, cookie_secret_bytes

__all__ = ["CHART_PLACEHOLDER_ISSUER", "Deployment", "DeploymentIngress", "IapSection"]

CHART_PLACEHOLDER_ISSUER = "https://kubermatic.tld/dex"


def _aes_key(value: str) -> str:
    if cookie_secret_bytes(value) is None:
        raise PydanticCustomError(
            "encryption_key",
            "must be 16, 24 or 32 characters, got {length}",
            {"length": len(value.encode())},
        )
    return value


EncryptionKey = Annotated[str, AfterValidator(_aes_key)]
"""16, 24 or 32 characters, or the base64 form of 16, 24 or 32 bytes (OAuth2-Proxy's cookie secret)."""


class IapCertIssuer(Strict):
    name: str = "letsencrypt-prod"  # empty disables Certificates (2.15-2.16)
    kind: str = "ClusterIssuer"


class CustomProviderCA(Strict):
    secretName: str
    secretKey: str


class DeploymentIngress(Strict):
    host: str
    annotations: Raw = Field(default_factory=dict)
    tlsSecretName: str | None = None
    class_: str = Field(default="nginx", alias="class")


class Deployment(Strict):
    """One protected service. ``config`` holds OAuth2-Proxy options (see :mod:`.options`)."""

    name: str
    replicas: int | None = Field(default=None, ge=0)
    client_id: str
    client_secret: str
    encryption_key: EncryptionKey
    existingSecret: str | None = None  # 2.31+: the three secrets live in that Secret
    upstream_service: str
    upstream_port: Port
    ingress: DeploymentIngress
    config: ProxyOptions = Field(default_factory=ProxyOptions)
    extraArgs: list[str] = Field(default_factory=list)
    passthrough: list[str] | None = None  # Gatekeeper era; replaced by config.skip_auth_regex

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
    oidc_issuer_url: str | None = None  # required when there are deployments (see kkp.required)
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

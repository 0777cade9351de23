"""The ``idgate:`` section: what only idgate has (where to listen, where state lives).

Paths are used as the process sees them (relative to the working directory), as Dex and OAuth2-Proxy do.
Messages never echo a storage or session URL: it may carry a password.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from idgate.config.tls import TlsSection
from idgate.config.types import Duration, Strict, did_you_mean
from idgate.wire import FOREIGN_IDENTITY_HEADERS, normalise_pattern, reads_itself

__all__ = ["IdentityHeaders", "IdgateSection", "KubernetesSection", "LoginThrottle", "Persistence"]

STORAGE_SCHEMES = ("sqlite", "postgresql", "postgres")
SESSION_SCHEMES = ("redis", "rediss")


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise PydanticCustomError(
            "listen",
            "expected host:port such as 127.0.0.1:4180 or [::]:4180, got '{value}'",
            {"value": value},
        )
    return value


def _scheme(value: str) -> str:
    return value.split("://", 1)[0].lower() if "://" in value else ""


def _storage(value: str) -> str:
    scheme = _scheme(value).split("+", 1)[0]
    if scheme not in STORAGE_SCHEMES or (scheme == "sqlite" and not value.startswith("sqlite:///")):
        got = f"scheme '{scheme}'" if scheme else "no URL scheme"
        raise PydanticCustomError(
            "storage", "expected sqlite:///PATH or postgresql://USER@HOST/DB, got {got}", {"got": got}
        )
    return value


def _sessions(value: str) -> str:
    if value != "cookie" and _scheme(value) not in SESSION_SCHEMES:
        raise PydanticCustomError("sessions", "expected 'cookie' or a redis://HOST:PORT/DB URL")
    return value


MAX_FAILURE_DELAY = 10.0


def _positive(value: float) -> float:
    if value <= 0:
        raise PydanticCustomError("duration", "expected a duration longer than 0s, such as 15m")
    return value


def _failure_delay(value: float) -> float:
    if value > MAX_FAILURE_DELAY:
        raise PydanticCustomError("duration", "expected a duration from 0s to 10s, such as 1s")
    return value


class LoginThrottle(Strict):
    """``idgate.login_throttle``: failed password (and second-factor) attempts counted per account and
    per client address, in storage so every replica shares them; a key that reaches its limit inside
    ``window`` is refused (429, the password not checked) until ``lockout`` has passed
    (``idgate user unlock`` ends it sooner). See THREAT_MODEL.md, section 2.
    """

    # Failures of one account (every name of an LDAP entry together; an unknown name alone) before it locks.
    account_failures: int = Field(default=5, ge=1, le=1_000_000)
    # Failures from one client address (IPv6: one /64) before it is locked; NAT may share one.
    address_failures: int = Field(default=30, ge=1, le=1_000_000)
    # Failures are counted within this long of the first one.
    window: Annotated[Duration, AfterValidator(_positive)] = 900.0
    # How long a key that reached its limit stays locked.
    lockout: Annotated[Duration, AfterValidator(_positive)] = 900.0
    # Every failure and refusal is answered this long after the attempt began (0s to 10s).
    failure_delay: Annotated[Duration, AfterValidator(_failure_delay)] = 1.0


_HEADER_PATTERN = re.compile(r"[A-Za-z0-9!#$%&'+.^_`|~-]+\*?")


def _header_pattern(value: str) -> str:
    if not _HEADER_PATTERN.fullmatch(value):
        raise PydanticCustomError(
            "header_name",
            "expected a header name such as X-Portal-User, or a prefix such as X-Portal-*, got '{value}'",
            {"value": value},
        )
    return value


def _strip_entry(value: str) -> str:
    _header_pattern(value)
    if not value.endswith("*") and reads_itself(normalise_pattern(value)):
        raise PydanticCustomError(
            "header_name",
            "'{value}' is a header idgate reads or sets itself; it cannot be removed here",
            {"value": value},
        )
    return value


_DEFAULTS = {normalise_pattern(p): p for p in FOREIGN_IDENTITY_HEADERS}


def _allow_entry(value: str) -> str:
    _header_pattern(value)
    if normalise_pattern(value) not in _DEFAULTS:
        raise PydanticCustomError(
            "header_name",
            "'{value}' is not an entry of the default list in docs/proxy.md (idgate's own identity "
            "headers, X-Forwarded-User ..., X-Auth-Request-* and X-Idgate-*, are always removed){hint}",
            {"value": value, "hint": did_you_mean(value, _DEFAULTS.values())},
        )
    return value


class IdentityHeaders(Strict):
    """``idgate.identity_headers``: which headers a client may not send to any upstream. idgate always
    removes its own identity headers (``X-Forwarded-User``, ``-Email``, ``-Groups``,
    ``-Preferred-Username``, ``-Access-Token``, ``X-Auth-Request-*``, ``X-Idgate-*``) and, by default,
    those of other proxies and gateways that upstreams trust (``Remote-*``, ``X-Remote-*``,
    ``Impersonate-*``, ``X-WEBAUTH-*``, ``OIDC_*`` ...: the list is in docs/proxy.md), in any case and
    with ``_`` for ``-``. A trailing ``*`` makes a prefix.
    """

    # More client headers to remove (e.g. the one your upstream trusts: X-Portal-User, X-Portal-*).
    strip: list[Annotated[str, AfterValidator(_strip_entry)]] = Field(default_factory=list)
    # Entries of the default list to let through, as written there (e.g. X-Amzn-Oidc-* behind an AWS ALB).
    allow: list[Annotated[str, AfterValidator(_allow_entry)]] = Field(default_factory=list)


def _quantity(value: str) -> str:
    if not _QUANTITY.fullmatch(value):
        raise PydanticCustomError("quantity", "expected a Kubernetes quantity such as 1Gi or 500Mi")
    return value


_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")


class Persistence(Strict):
    """``idgate.kubernetes.persistence``: the provider's SQLite database on a PersistentVolumeClaim
    (``dex-data``, ReadWriteOnce, mounted at ``/var/lib/idgate``) instead of an emptyDir, so that signing
    keys, users and clients added with the CLI, and refresh tokens outlive the pod. One replica only (SQLite
    is one file); the old pod then stops before the new one starts (``strategy: Recreate``), since a
    ReadWriteOnce volume cannot follow a new pod to another node while the old one holds it. No effect
    with PostgreSQL.
    """

    enabled: bool = False  # render the PersistentVolumeClaim and mount it
    size: Annotated[str, AfterValidator(_quantity)] = "1Gi"  # the claim's storage request
    storageClassName: str | None = None  # null: the cluster's default StorageClass


class KubernetesSection(Strict):
    """``idgate.kubernetes``: read only by ``idgate render kubernetes``.

    ``networkPolicy: true`` renders, per deployment, a NetworkPolicy in the upstream's namespace that
    admits only that deployment's proxy pods; a NetworkPolicy selects pods, not Services, so
    ``upstreamSelectors`` (deployment name -> the upstream pods' labels) must name them.
    """

    networkPolicy: bool = False
    upstreamSelectors: dict[str, dict[str, str]] = Field(default_factory=dict)
    image: str | None = None  # default: idgate's image of this version (``--image`` wins)
    # The provider's SQLite database on a PersistentVolumeClaim instead of an emptyDir.
    persistence: Persistence = Field(default_factory=Persistence)


class IdgateSection(Strict):
    """``idgate:``. ``storage`` defaults to ``sqlite:///<data_dir>/idgate.db``.

    ``metrics_listen`` (default ``127.0.0.1:9180``; ``null`` turns it off) and ``health_listen`` (off by
    default) each serve ``/metrics``, ``/healthz/live`` and ``/healthz/ready`` on a port of their own, never
    on the public listener (:mod:`idgate.runtime.health`, :mod:`idgate.runtime.metrics`). When only
    ``health_listen`` is given, it is the one such listener. When ``metrics_listen`` is not given and its
    default port is taken, idgate warns and runs without it.
    """

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:4180"
    health_listen: Annotated[str, AfterValidator(_listen)] | None = None
    metrics_listen: Annotated[str, AfterValidator(_listen)] | None = "127.0.0.1:9180"
    # HTTPS on ``listen``: {cert: FILE, key: FILE}, renewed files re-read; null: plain HTTP.
    tls: TlsSection | None = None
    storage: Annotated[str, AfterValidator(_storage)] | None = None
    sessions: Annotated[str, AfterValidator(_sessions)] = "cookie"
    data_dir: str = "./data"
    workers: int = Field(default=1, ge=1)
    # PostgreSQL connections per process (as many again may open under load).
    storage_pool_size: int = Field(default=10, ge=1, le=1000)
    # Verified session cookies (and bearer tokens) remembered per process and deployment; 0 turns it off.
    session_memo_size: int = Field(default=10_000, ge=0)
    # How the provider signs ID tokens; both are published in /keys.
    signing_algorithm: Literal["RS256", "ES256"] = "RS256"
    # The provider's single sign-on session: how long a login is reused for other clients.
    login_session_lifetime: Duration = 24 * 3600.0
    # Login limits: failures per account and per client address, the lockout, the failure delay.
    login_throttle: LoginThrottle = Field(default_factory=LoginThrottle)
    # Client headers removed before any upstream sees them: idgate's own and other proxies' identity headers.
    identity_headers: IdentityHeaders = Field(default_factory=IdentityHeaders)
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)

    @property
    def effective_metrics_listen(self) -> str | None:
        """``metrics_listen`` as given; unset, its default unless ``health_listen`` serves metrics already."""
        if "metrics_listen" in self.model_fields_set or self.health_listen is None:
            return self.metrics_listen
        return None

    @property
    def storage_url(self) -> str:
        """``storage`` as written, or the SQLite file in ``data_dir``."""
        return self.storage or f"sqlite:///{self.data_dir.rstrip('/')}/idgate.db"

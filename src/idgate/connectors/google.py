"""The ``google`` connector: Google accounts through Google's OpenID Connect, with Dex's config keys.

It is the :mod:`oidc <idgate.connectors.oidc>` connector pointed at ``https://accounts.google.com``, plus:

- ``hostedDomains``: the ID token's ``hd`` claim (the Workspace domain) must be one of them. It is checked,
  not merely requested (``hd=`` in the authorization URL is only a hint to Google's account chooser).
- ``groups`` with ``serviceAccountFilePath`` and ``domainToAdminEmail``: the person's groups are read from
  the Admin SDK Directory API (``groups.list?userKey=<email>``, every page), authorised by a service
  account with domain-wide delegation: a JWT assertion (RFC 7523) signed with the key file's RSA key,
  ``sub`` = the admin of the person's email domain (``*`` as a catch-all). With ``groups`` set the person
  must be in one of them, and only those are emitted. Groups are group email addresses.
  ``fetchTransitiveGroupMembership`` also reads the groups of those groups (``userKey=<group email>``),
  recursively, each group once (Dex's order: a group, then the groups it is in).
- Refresh asks Google for ``access_type=offline`` and re-checks the domain and the groups.

The test-only constructor arguments ``issuer`` and ``directory_url`` point it at a local fake; they are
not config keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import Field

from idgate.clock import Clock
from idgate.connectors.base import Connector, ConnectorServices, ConnectorType, Identity
from idgate.connectors.config import ConnectorConfig, config_problem
from idgate.connectors.errors import LoginRefused, UpstreamFailed
from idgate.connectors.http import request_json, token_request
from idgate.connectors.oidc import OIDCConfig, OIDCConnector
from idgate.errors import Loc
from idgate.net import HTTPClient
from idgate.settings import ConnectorSettings

__all__ = ["GOOGLE_ISSUER", "GoogleConfig", "GoogleConnector", "ServiceAccount"]

GOOGLE_ISSUER = "https://accounts.google.com"
DIRECTORY_URL = "https://admin.googleapis.com/admin/directory/v1"
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"
ASSERTION_LIFETIME = 3600
MAX_GROUPS = 1000  # transitive groups read for one person: more is an answer we do not trust


class GoogleConfig(ConnectorConfig):
    """Dex's ``google`` connector config."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"adminEmail"})

    clientID: str
    clientSecret: str
    redirectURI: str = ""
    scopes: list[str] = Field(default_factory=list)
    hostedDomains: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    serviceAccountFilePath: str = ""
    adminEmail: str = ""  # legacy: the admin for every domain
    domainToAdminEmail: dict[str, str] = Field(default_factory=dict)
    fetchTransitiveGroupMembership: bool = False
    promptType: str | None = None


def _open(entry: ConnectorSettings, config: GoogleConfig, services: ConnectorServices, at: Loc) -> Connector:
    account = None
    if config.serviceAccountFilePath:
        try:
            account = ServiceAccount.from_file(config.serviceAccountFilePath)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = (
                exc.strerror
                if isinstance(exc, OSError) and exc.strerror
                else "not a service-account key file"
            )
            raise config_problem(
                (*at, "serviceAccountFilePath"), f"cannot use {config.serviceAccountFilePath}: {reason}"
            ) from exc
    return GoogleConnector(
        entry.id, entry.name, config, services.http, services.clock, service_account=account
    )


TYPE = ConnectorType(name="google", config=GoogleConfig, open=_open)


class ServiceAccount:
    """A Google service-account key file (``type: service_account``) that signs Directory API assertions."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        if doc.get("type") != "service_account":
            raise ValueError("not a service_account key file")
        self.client_email = str(doc["client_email"])
        self.token_uri = str(doc.get("token_uri") or "https://oauth2.googleapis.com/token")
        self.key_id = str(doc.get("private_key_id") or "")
        self._key = RSAKey.import_key(str(doc["private_key"]))

    @classmethod
    def from_file(cls, path: str) -> ServiceAccount:
        """Read and check the key file (``OSError`` / ``ValueError`` / ``KeyError`` when unusable)."""
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def assertion(self, subject: str, now: float) -> str:
        """An RS256 JWT bearer assertion for the Directory scope, acting as ``subject`` (RFC 7523 §3)."""
        header = {"alg": "RS256", "typ": "JWT", **({"kid": self.key_id} if self.key_id else {})}
        claims = {
            "iss": self.client_email,
            "sub": subject,
            "scope": DIRECTORY_SCOPE,
            "aud": self.token_uri,
            "iat": int(now),
            "exp": int(now) + ASSERTION_LIFETIME,
        }
        return jwt.encode(header, claims, self._key, algorithms=["RS256"])


class GoogleConnector(OIDCConnector):
    """Google as a :class:`CallbackConnector` and :class:`RefreshConnector`."""

    upstream = "Google"

    def __init__(
        self,
        id: str,
        name: str,
        config: GoogleConfig,
        http: HTTPClient,
        clock: Clock,
        *,
        service_account: ServiceAccount | None = None,
        issuer: str = GOOGLE_ISSUER,
        directory_url: str = DIRECTORY_URL,
    ) -> None:
        oidc = OIDCConfig(
            issuer=issuer,
            clientID=config.clientID,
            clientSecret=config.clientSecret,
            redirectURI=config.redirectURI,
            scopes=config.scopes or ["openid", "profile", "email"],
            promptType=config.promptType,
        )
        super().__init__(id, name or "Google", oidc, http, clock)
        self.google = config
        self._service_account = service_account
        self._directory = directory_url.rstrip("/")
        self._tokens: dict[str, tuple[str, float]] = {}  # admin email -> (access token, expiry)

    def auth_params(self, scopes: tuple[str, ...]) -> dict[str, str]:
        params = super().auth_params(scopes)
        domains = self.google.hostedDomains
        if domains:
            params["hd"] = domains[0] if len(domains) == 1 else "*"
        if "offline_access" in scopes:
            params["access_type"] = "offline"
        return params

    def upstream_scopes(self, scopes: tuple[str, ...]) -> list[str]:
        # Google refuses the offline_access scope; it wants access_type=offline instead.
        return [s for s in super().upstream_scopes(scopes) if s != "offline_access"]

    async def identity(
        self,
        scopes: tuple[str, ...],
        claims: Mapping[str, Any],
        token: Mapping[str, Any],
        *,
        refresh_token: Any,
    ) -> Identity:
        email = claims.get("email")
        domains = self.google.hostedDomains
        hd = claims.get("hd")
        if domains and hd not in domains:
            shown = f"'{hd}'" if isinstance(hd, str) and hd.isprintable() else "no Workspace domain"
            raise LoginRefused(f"the Google account {email} is in {shown}, not in {', '.join(domains)}")
        base = await super().identity(scopes, claims, token, refresh_token=refresh_token)
        if not base.email_verified:
            raise LoginRefused(f"the Google account {email} has no verified email address")
        groups: list[str] = []
        if self._service_account is not None and (self.google.groups or "groups" in scopes):
            groups = await self._groups(base.email, seen=set())
            if self.google.groups:
                wanted = {g.lower() for g in self.google.groups}
                groups = [g for g in groups if g.lower() in wanted]
                if not groups:
                    raise LoginRefused(
                        f"the Google account {email} is in none of the groups {', '.join(self.google.groups)}"
                    )
        return Identity(
            user_id=base.user_id,
            username=base.username or base.email,
            email=base.email,
            email_verified=True,
            preferred_username=base.preferred_username,
            groups=tuple(groups),
            connector_data=base.connector_data,
        )

    def _admin_for(self, email: str) -> str:
        domain = email.rpartition("@")[2].lower()
        admins = {k.lower(): v for k, v in self.google.domainToAdminEmail.items()}
        admin = admins.get(domain) or admins.get("*") or self.google.adminEmail
        if not admin:
            raise LoginRefused(f"no admin email is configured for the domain {domain} (domainToAdminEmail)")
        return admin

    async def _directory_token(self, admin: str) -> str:
        assert self._service_account is not None
        now = self._clock.now()
        cached = self._tokens.get(admin)
        if cached is not None and cached[1] > now + 60:
            return cached[0]
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self._service_account.assertion(admin, now),
        }
        body = await token_request(
            self._http, self._service_account.token_uri, form, what="Google service-account token endpoint"
        )
        lifetime = body.get("expires_in")
        expires = now + (float(lifetime) if isinstance(lifetime, int | float) else 300.0)
        self._tokens[admin] = (str(body["access_token"]), expires)
        return str(body["access_token"])

    async def _groups(self, email: str, *, seen: set[str]) -> list[str]:
        """The groups ``email`` (a person or a group) is in; with ``fetchTransitiveGroupMembership`` the
        groups of those groups too. ``seen`` holds the groups already listed (membership cycles end)."""
        groups: list[str] = []
        for group in await self._direct_groups(email):
            if group.lower() in seen:
                continue
            seen.add(group.lower())
            groups.append(group)
            if self.google.fetchTransitiveGroupMembership:
                if len(seen) > MAX_GROUPS:
                    raise UpstreamFailed(f"Google Directory API: more than {MAX_GROUPS} groups")
                groups += await self._groups(group, seen=seen)
        return groups

    async def _direct_groups(self, email: str) -> list[str]:
        token = await self._directory_token(self._admin_for(email))
        groups: list[str] = []
        page = ""
        for _ in range(50):
            url = f"{self._directory}/groups?userKey={quote(email, safe='@')}"
            if page:
                url += f"&pageToken={quote(page, safe='')}"
            resp = await request_json(
                self._http,
                "GET",
                url,
                what="Google Directory API",
                headers={"Authorization": f"Bearer {token}"},
            )
            if resp.status != 200 or not isinstance(resp.body, dict):
                raise UpstreamFailed(f"Google Directory API answered HTTP {resp.status}")
            for group in resp.body.get("groups") or []:
                if isinstance(group, dict) and isinstance(group.get("email"), str):
                    groups.append(group["email"])
            page = resp.body.get("nextPageToken") or ""
            if not isinstance(page, str) or not page:
                return groups
        raise UpstreamFailed("Google Directory API: too many pages of groups")

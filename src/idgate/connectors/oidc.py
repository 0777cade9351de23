"""The ``oidc`` connector: any upstream OpenID Connect provider, with Dex's config keys.

The flow (OpenID Connect Core §3.1): :meth:`prepare` reads the issuer's discovery document (with
``providerDiscoveryOverrides`` applied); :meth:`login_url` sends the browser to the authorization endpoint
with a ``nonce`` and a PKCE ``S256`` challenge, both derived from the ``state``
(:func:`idgate.connectors.http.derive_secret`); :meth:`handle_callback` redeems the code with the verifier
(``client_secret_basic``, or ``client_secret_post`` with ``basicAuthUnsupported``), verifies the ID token
against the issuer's keys as the proxy does (:class:`idgate.oidc.client.IssuerCache`: the discovery
document and JWKS cached, the JWKS refetched at most once a minute for an unknown ``kid``; signature with
an algorithm allow-list, then claims, including that nonce), optionally merges the UserInfo answer
(``getUserInfo``), and maps claims:

- ``user_id`` from ``userIDKey`` (default ``sub``), ``username`` from ``userNameKey`` (default ``name``);
- ``email`` / ``preferred_username`` / ``groups``: the claims so named, else the ``claimMapping`` ones;
- ``email_verified`` must be present unless ``insecureSkipEmailVerified`` (which then takes it as true);
- groups only with ``insecureEnableGroups`` (a list of strings, or one string); ``claimModifications``
  filter, add and rename them; ``allowedGroups`` refuses a person in none of them;
- without ``overrideClaimMapping``, a standard claim that is present wins over its ``claimMapping`` (Dex);
- ``hostedDomains`` (deprecated, Google-style): the ``hd`` claim must be one of them;
- ``acrValues`` are sent as ``acr_values`` (not checked in the ID token, as Dex);
- ``rootCAs`` (paths, base64 PEM or PEM) are trusted on top of the system store, ``insecureSkipVerify``
  turns verification off (with a warning); ``basicAuthUnsupported`` sends ``client_secret_post``.

Refresh (when the upstream issued a refresh token: the client asked for ``offline_access``) redeems it;
a refreshed ID token is verified again and must name the same ``sub`` (Core §12.2).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from idgate.clock import Clock
from idgate.connectors.base import Connector, ConnectorServices, ConnectorType, Identity
from idgate.connectors.config import ConnectorConfig, config_problem
from idgate.connectors.email import checked_email
from idgate.connectors.errors import CallbackInvalid, LoginRefused, UpstreamFailed
from idgate.connectors.http import (
    CAError,
    callback_params,
    derive_key,
    derive_secret,
    request_json,
    token_request,
    upstream_tls,
)
from idgate.errors import Loc
from idgate.net import HTTPClient
from idgate.oauth2.pkce import s256
from idgate.oidc.client import (
    IssuerCache,
    OIDCError,
    ProviderMetadata,
    SigningKey,
    UnknownSigningKey,
    basic_auth,
    discovery_url,
    parse_jwks,
    parse_metadata,
)
from idgate.settings import ConnectorSettings

__all__ = [
    "ClaimMapping",
    "ClaimModifications",
    "DiscoveryOverrides",
    "FilterGroupClaims",
    "ModifyGroupNames",
    "NewGroupFromClaims",
    "OIDCConfig",
    "OIDCConnector",
]

log = logging.getLogger("idgate.connectors")

DEFAULT_SCOPES = ("openid", "profile", "email")


class ClaimMapping(ConnectorConfig):
    """Which upstream claims carry the standard ones (empty: the claim of the same name)."""

    preferred_username: str = ""
    email: str = ""
    groups: str = ""


class DiscoveryOverrides(ConnectorConfig):
    """Endpoints used instead of the discovery document's."""

    tokenURL: str = ""
    authURL: str = ""
    jwksURL: str = ""


class NewGroupFromClaims(ConnectorConfig):
    """A group made of claim values: ``prefix``, then each string claim, joined by ``delimiter``."""

    claims: list[str] = Field(default_factory=list)
    delimiter: str = ""
    clearDelimiter: bool = False  # remove the delimiter from the claim values first
    prefix: str = ""


class FilterGroupClaims(ConnectorConfig):
    """Keep only the upstream groups that ``groupsFilter`` (a regular expression) finds a match in."""

    groupsFilter: str = ""

    @field_validator("groupsFilter")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise PydanticCustomError(
                "oidc_regex", "not a regular expression: {why}", {"why": str(exc)}
            ) from None
        return value


class ModifyGroupNames(ConnectorConfig):
    """Text put before and after every group name."""

    prefix: str = ""
    suffix: str = ""


class ClaimModifications(ConnectorConfig):
    """Dex's ``claimModifications``: change the groups after they are read."""

    newGroupFromClaims: list[NewGroupFromClaims] = Field(default_factory=list)
    filterGroupClaims: FilterGroupClaims = Field(default_factory=FilterGroupClaims)
    modifyGroupNames: ModifyGroupNames = Field(default_factory=ModifyGroupNames)


class OIDCConfig(ConnectorConfig):
    """Dex's ``oidc`` connector config."""

    issuer: str
    clientID: str
    clientSecret: str = ""
    redirectURI: str = ""
    basicAuthUnsupported: bool | None = None  # true: client_secret_post instead of client_secret_basic
    scopes: list[str] = Field(default_factory=list)
    hostedDomains: list[str] = Field(default_factory=list)  # deprecated in Dex: the hd claim must match
    rootCAs: list[str] = Field(default_factory=list)  # paths, base64 PEM or PEM, added to the system store
    insecureSkipVerify: bool = False
    insecureSkipEmailVerified: bool = False
    insecureEnableGroups: bool = False
    allowedGroups: list[str] = Field(default_factory=list)
    acrValues: list[str] = Field(default_factory=list)
    getUserInfo: bool = False
    userIDKey: str = "sub"
    userNameKey: str = "name"
    promptType: str | None = None  # absent: "consent", as Dex; "" sends no prompt
    pkceChallenge: Literal["", "S256", "plain"] = ""  # "": S256 (idgate always sends PKCE)
    overrideClaimMapping: bool = False
    claimMapping: ClaimMapping = Field(default_factory=ClaimMapping)
    claimModifications: ClaimModifications = Field(default_factory=ClaimModifications)
    providerDiscoveryOverrides: DiscoveryOverrides = Field(default_factory=DiscoveryOverrides)

    @field_validator("userIDKey", "userNameKey")
    @classmethod
    def _default_when_empty(cls, value: str, info: ValidationInfo) -> str:
        # Dex treats an empty key as unset
        return value or ("sub" if info.field_name == "userIDKey" else "name")


def _open(entry: ConnectorSettings, config: OIDCConfig, services: ConnectorServices, at: Loc) -> Connector:
    try:
        return OIDCConnector(entry.id, entry.name, config, services.http, services.clock)
    except CAError as exc:
        raise config_problem((*at, "rootCAs", exc.index), exc.message) from exc


TYPE = ConnectorType(name="oidc", config=OIDCConfig, open=_open)


class OIDCConnector:
    """An upstream OpenID Connect provider as a :class:`CallbackConnector` and :class:`RefreshConnector`."""

    upstream = "the OpenID Connect provider"

    def __init__(self, id: str, name: str, config: OIDCConfig, http: HTTPClient, clock: Clock) -> None:
        self._id, self._name, self.config = id, name or "OpenID Connect", config
        self._http, self._clock = http, clock
        self._key = derive_key(config.clientSecret, config.clientID, id)
        self._issuer = IssuerCache(config.issuer, clock, self._discover, self._jwks)
        # raises ValueError for a rootCAs entry that is no certificate (a config error at start-up)
        self._tls = upstream_tls(config.rootCAs, skip_verify=config.insecureSkipVerify)
        mod = config.claimModifications
        self._groups_filter = (
            re.compile(mod.filterGroupClaims.groupsFilter) if mod.filterGroupClaims.groupsFilter else None
        )
        if config.insecureSkipVerify:
            log.warning(
                "connector %s: insecureSkipVerify is set, the TLS certificate of %s is not verified",
                id,
                config.issuer,
                extra={"event": "connector_insecure_tls", "connector": id},
            )
        if config.hostedDomains and type(self) is OIDCConnector:
            log.warning(
                "connector %s: hostedDomains is deprecated in the oidc connector (Dex removed it); "
                "use the google connector",
                id,
                extra={"event": "connector_deprecated_key", "connector": id},
            )

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    # --- discovery and keys ---------------------------------------------------------------------

    async def prepare(self) -> None:
        """Read (or re-read, once it is an hour old) the discovery document."""
        await self._issuer.metadata()

    async def _discover(self) -> ProviderMetadata:
        """The discovery document with ``providerDiscoveryOverrides`` applied (:class:`IssuerCache` keeps
        it)."""
        resp = await request_json(
            self._http,
            "GET",
            discovery_url(self.config.issuer),
            what=f"discovery of {self.config.issuer}",
            tls=self._tls,
        )
        if resp.status != 200:
            raise UpstreamFailed(f"discovery of {self.config.issuer} answered HTTP {resp.status}")
        try:
            meta = parse_metadata(resp.body, self.config.issuer)
        except OIDCError as exc:
            raise UpstreamFailed(f"discovery of {self.config.issuer}: {exc.reason}") from exc
        o = self.config.providerDiscoveryOverrides
        return ProviderMetadata(
            issuer=meta.issuer,
            authorization_endpoint=o.authURL or meta.authorization_endpoint,
            token_endpoint=o.tokenURL or meta.token_endpoint,
            jwks_uri=o.jwksURL or meta.jwks_uri,
            userinfo_endpoint=meta.userinfo_endpoint,
        )

    async def _jwks(self, jwks_uri: str) -> tuple[SigningKey, ...]:
        """The upstream's signing keys (:class:`IssuerCache` keeps them)."""
        resp = await request_json(self._http, "GET", jwks_uri, what="upstream JWKS", tls=self._tls)
        if resp.status != 200:
            raise UpstreamFailed(f"upstream JWKS answered HTTP {resp.status}")
        try:
            return parse_jwks(resp.body)
        except OIDCError as exc:
            raise UpstreamFailed(f"upstream JWKS: {exc.reason}") from exc

    async def _verify(self, id_token: str, nonce: str | None) -> dict[str, Any]:
        """Verify an ID token; ``nonce=None`` for a refreshed one (``sub`` is compared by the caller)."""
        try:
            # a refreshed ID token has no nonce to compare (Core §12.2): nonce is None then
            return await self._issuer.verify(id_token, client_id=self.config.clientID, nonce=nonce)
        except UnknownSigningKey:
            raise UpstreamFailed("upstream ID token signed with an unknown key") from None
        except OIDCError as exc:
            raise UpstreamFailed(f"upstream ID token rejected: {exc.reason}") from exc

    # --- the flow ---------------------------------------------------------------------------------

    def _redirect_uri(self, callback_url: str) -> str:
        return self.config.redirectURI or callback_url

    def upstream_scopes(self, scopes: tuple[str, ...]) -> list[str]:
        """The scopes asked upstream: the configured ones (or ``openid profile email``), ``openid`` always,
        ``offline_access`` when the client asked for it."""
        wanted = list(self.config.scopes or DEFAULT_SCOPES)
        if "openid" not in wanted:
            wanted.insert(0, "openid")
        if "offline_access" in scopes and "offline_access" not in wanted:
            wanted.append("offline_access")
        return wanted

    def auth_params(self, scopes: tuple[str, ...]) -> dict[str, str]:
        """Extra authorization-request parameters (``prompt``, ``acr_values``, ``hd``); subclasses add
        their own."""
        c = self.config
        prompt = "consent" if c.promptType is None else c.promptType
        params = {"prompt": prompt} if prompt else {}
        if c.acrValues:
            params["acr_values"] = " ".join(c.acrValues)
        if c.hostedDomains:
            # a hint to the account chooser only; the hd claim is checked in identity()
            params["hd"] = c.hostedDomains[0] if len(c.hostedDomains) == 1 else "*"
        return params

    def _pkce(self, state: str) -> tuple[str, str]:
        """``(code_challenge, code_challenge_method)`` for this login."""
        verifier = derive_secret(self._key, "pkce", state)
        if self.config.pkceChallenge == "plain":
            return verifier, "plain"
        return s256(verifier), "S256"

    def login_url(self, scopes: tuple[str, ...], callback_url: str, state: str) -> str:
        meta = self._issuer.cached_metadata()
        if meta is None and not self.config.providerDiscoveryOverrides.authURL:
            raise UpstreamFailed(f"{self.upstream} at {self.config.issuer} has not been reached yet")
        endpoint = self.config.providerDiscoveryOverrides.authURL or (
            meta.authorization_endpoint if meta else ""
        )
        challenge, method = self._pkce(state)
        query = {
            "response_type": "code",
            "client_id": self.config.clientID,
            "redirect_uri": self._redirect_uri(callback_url),
            "scope": " ".join(self.upstream_scopes(scopes)),
            "state": state,
            "nonce": derive_secret(self._key, "nonce", state),
            "code_challenge": challenge,
            "code_challenge_method": method,
            **self.auth_params(scopes),
        }
        sep = "&" if "?" in endpoint else "?"
        return f"{endpoint}{sep}{urlencode(query)}"

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        meta = await self._issuer.metadata()
        auth = None
        c = self.config
        if c.clientSecret and not c.basicAuthUnsupported:
            auth = basic_auth(c.clientID, c.clientSecret)  # client_secret_basic (RFC 6749 §2.3.1)
        elif c.clientSecret:
            form = {**form, "client_id": c.clientID, "client_secret": c.clientSecret}  # client_secret_post
        else:
            form = {**form, "client_id": c.clientID}
        return await token_request(
            self._http, meta.token_endpoint, form, what="upstream token endpoint", auth=auth, tls=self._tls
        )

    async def handle_callback(
        self, scopes: tuple[str, ...], callback_url: str, query: Mapping[str, str]
    ) -> Identity:
        code, state = callback_params(query, self.upstream)
        if not state:
            raise CallbackInvalid(f"{self.upstream} sent no state")
        token = await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._redirect_uri(callback_url),
                "code_verifier": derive_secret(self._key, "pkce", state),
            }
        )
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise UpstreamFailed(f"{self.upstream} returned no id_token")
        claims = await self._verify(id_token, derive_secret(self._key, "nonce", state))
        if self.config.getUserInfo:
            claims = await self._with_userinfo(claims, str(token["access_token"]))
        return await self.identity(scopes, claims, token, refresh_token=token.get("refresh_token"))

    async def refresh(self, scopes: tuple[str, ...], identity: Identity) -> Identity:
        try:
            data = json.loads(identity.connector_data)
            refresh_token, sub = data["refresh_token"], data["sub"]
        except (ValueError, KeyError, TypeError) as exc:
            raise LoginRefused(
                f"{self.upstream} gave no refresh token for this login; sign in again"
            ) from exc
        if not isinstance(refresh_token, str) or not refresh_token:
            raise LoginRefused(f"{self.upstream} gave no refresh token for this login; sign in again")
        try:
            token = await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except CallbackInvalid as exc:
            raise LoginRefused(f"{self.upstream} refused the refresh: sign in again") from exc
        id_token = token.get("id_token")
        if isinstance(id_token, str):
            claims = await self._verify(id_token, None)
        elif self.config.getUserInfo:
            claims = {"sub": sub}
        else:
            return _with_data(identity, token.get("refresh_token") or refresh_token, sub)
        if claims.get("sub") != sub:
            raise LoginRefused(f"the {self.upstream} account behind this login changed; sign in again")
        if self.config.getUserInfo:
            claims = await self._with_userinfo(claims, str(token["access_token"]))
        return await self.identity(
            scopes, claims, token, refresh_token=token.get("refresh_token") or refresh_token
        )

    async def _with_userinfo(self, claims: dict[str, Any], access_token: str) -> dict[str, Any]:
        meta = await self._issuer.metadata()
        if not meta.userinfo_endpoint:
            raise UpstreamFailed(f"{self.upstream} has no userinfo_endpoint (getUserInfo is set)")
        resp = await request_json(
            self._http,
            "GET",
            meta.userinfo_endpoint,
            what="upstream userinfo",
            headers={"Authorization": f"Bearer {access_token}"},
            tls=self._tls,
        )
        if resp.status == 401:
            raise LoginRefused(f"{self.upstream} no longer accepts this login; sign in again")
        if resp.status != 200 or not isinstance(resp.body, dict):
            raise UpstreamFailed(f"upstream userinfo answered HTTP {resp.status}")
        if resp.body.get("sub") != claims.get("sub"):
            raise UpstreamFailed("upstream userinfo is about another subject")
        return {**claims, **resp.body}

    async def identity(
        self,
        scopes: tuple[str, ...],
        claims: Mapping[str, Any],
        token: Mapping[str, Any],
        *,
        refresh_token: Any,
    ) -> Identity:
        """Map verified claims to an identity (subclasses check more before calling this)."""
        c = self.config
        user_id = claims.get(c.userIDKey)
        if isinstance(user_id, int | float) and not isinstance(user_id, bool):
            user_id = str(user_id)
        if not isinstance(user_id, str) or not user_id:
            raise UpstreamFailed(f"{self.upstream} sent no '{c.userIDKey}' claim (userIDKey)")
        username = claims.get(c.userNameKey)
        if not isinstance(username, str):
            raise UpstreamFailed(f"{self.upstream} sent no '{c.userNameKey}' claim (userNameKey)")
        if c.hostedDomains:
            hd = claims.get("hd")
            if hd not in c.hostedDomains:
                shown = f"'{hd}'" if isinstance(hd, str) and hd.isprintable() else "no hosted domain (hd)"
                raise LoginRefused(
                    f"the {self.upstream} account is in {shown}, not in {', '.join(c.hostedDomains)}"
                )
        email = self._mapped(claims, "email", c.claimMapping.email)
        if "email" in self.upstream_scopes(scopes) and (not isinstance(email, str) or not email):
            raise UpstreamFailed(f"{self.upstream} sent no email claim")
        if isinstance(email, str) and email:
            checked_email(email, self.upstream)
        verified = claims.get("email_verified")
        if c.insecureSkipEmailVerified:
            verified = True
        elif not isinstance(verified, bool):
            raise UpstreamFailed(f"{self.upstream} sent no email_verified claim (insecureSkipEmailVerified)")
        preferred = self._mapped(claims, "preferred_username", c.claimMapping.preferred_username)
        groups = self._claim_groups(claims)
        return Identity(
            user_id=user_id,
            username=username,
            email=email if isinstance(email, str) else "",
            email_verified=verified,
            preferred_username=preferred if isinstance(preferred, str) else "",
            groups=tuple(groups),
            connector_data=json.dumps({"refresh_token": refresh_token or "", "sub": claims.get("sub")}),
        )

    def _mapped(self, claims: Mapping[str, Any], standard: str, mapped: str) -> Any:
        """A claim as Dex maps it: the standard claim, or the ``claimMapping`` one when the standard claim
        is absent (always the mapped one with ``overrideClaimMapping``)."""
        value = claims.get(standard)
        if mapped and (self.config.overrideClaimMapping or value is None):
            value = claims.get(mapped)
        return value

    def _claim_groups(self, claims: Mapping[str, Any]) -> list[str]:
        """Groups: the groups claim, ``filterGroupClaims``, ``allowedGroups`` (none of them: refused), then
        ``newGroupFromClaims`` and ``modifyGroupNames``. Emitted only with ``insecureEnableGroups``.

        Unlike Dex, ``allowedGroups`` is enforced even without ``insecureEnableGroups`` (Dex then ignores
        it, letting everyone in): what the operator restricted stays restricted.
        """
        c = self.config
        groups: list[str] = []
        if c.insecureEnableGroups or c.allowedGroups:
            raw = self._mapped(claims, "groups", c.claimMapping.groups)
            if isinstance(raw, str):
                groups = [raw]
            elif isinstance(raw, list):
                groups = [g for g in raw if isinstance(g, str)]
            if self._groups_filter is not None:
                groups = [g for g in groups if self._groups_filter.search(g)]
            if c.allowedGroups:
                allowed = set(c.allowedGroups)
                groups = [g for g in groups if g in allowed]
                if not groups:
                    raise LoginRefused(
                        f"the {self.upstream} account is in none of the groups {', '.join(c.allowedGroups)}"
                    )
            if not c.insecureEnableGroups:
                groups = []
        for rule in c.claimModifications.newGroupFromClaims:
            values = [claims[name] for name in rule.claims if isinstance(claims.get(name), str)]
            if rule.clearDelimiter and rule.delimiter:
                values = [v.replace(rule.delimiter, "") for v in values]
            if values:
                groups.append(rule.delimiter.join([rule.prefix, *values]))
        names = c.claimModifications.modifyGroupNames
        if names.prefix or names.suffix:
            groups = [f"{names.prefix}{g}{names.suffix}" for g in groups]
        return groups


def _with_data(identity: Identity, refresh_token: Any, sub: str) -> Identity:
    from dataclasses import replace

    return replace(identity, connector_data=json.dumps({"refresh_token": refresh_token, "sub": sub}))

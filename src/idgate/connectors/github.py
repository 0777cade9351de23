"""The ``github`` connector: GitHub (or GitHub Enterprise) OAuth apps, with Dex's config keys.

The flow: the browser goes to ``/login/oauth/authorize`` (scopes ``user:email``, plus ``read:org`` when
organisations matter); the callback's code is exchanged at ``/login/oauth/access_token``; then the REST API
gives the user (``/user``), their verified primary email (``/user/emails``), organisations
(``/user/orgs``) and teams (``/user/teams``), every page followed through ``Link`` headers.

Rules:

- The id is the numeric GitHub user id (stable across renames), or the login with ``useLoginAsID``.
- Only a verified email is used: the primary one, or with ``preferredEmailDomain`` (``example.com`` or
  ``*.example.com``) a verified one in that domain when there is one. No verified primary: refused.
- With ``orgs`` (or the legacy ``org``), the person must belong to one of them, and, where an org lists
  ``teams``, to one of those teams; otherwise :class:`LoginRefused` says which orgs were required.
  Groups are ``org`` and ``org:team`` (team by ``teamNameField``: ``name``, ``slug`` or ``both``).
- ``loadAllGroups`` (without ``orgs``) emits every org and team of the person.
- ``hostName`` points at GitHub Enterprise (``https://<hostName>/api/v3``), ``rootCA`` is its CA file.
- Refresh re-reads the user and re-checks membership with the stored token; a revoked token refuses.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Self
from urllib.parse import urlencode

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from idgate.connectors.base import Connector, ConnectorServices, ConnectorType, Identity
from idgate.connectors.config import ConnectorConfig, config_problem
from idgate.connectors.email import checked_email
from idgate.connectors.errors import LoginRefused, UpstreamFailed
from idgate.connectors.http import callback_params, get_pages, request_json, ssl_context, token_request
from idgate.errors import Loc
from idgate.net import HTTPClient
from idgate.settings import ConnectorSettings

__all__ = ["GitHubConfig", "GitHubConnector", "GitHubOrg"]


class GitHubOrg(ConnectorConfig):
    """An organisation whose members may log in; with ``teams``, only members of those teams."""

    name: str
    teams: list[str] = Field(default_factory=list)


class GitHubConfig(ConnectorConfig):
    """Dex's ``github`` connector config."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"org"})

    clientID: str
    clientSecret: str
    redirectURI: str = ""
    orgs: list[GitHubOrg] = Field(default_factory=list)
    org: str = ""  # legacy: one org, same as orgs: [{name: org}]
    loadAllGroups: bool = False
    teamNameField: Literal["name", "slug", "both"] = "name"
    useLoginAsID: bool = False
    preferredEmailDomain: str = ""
    hostName: str = ""
    rootCA: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.org and self.orgs:
            raise PydanticCustomError("github_org", "give orgs or the legacy org, not both")
        if self.rootCA and not self.hostName:
            raise PydanticCustomError("github_ca", "rootCA is only used with hostName (GitHub Enterprise)")
        return self

    @property
    def required_orgs(self) -> list[GitHubOrg]:
        """The configured organisations (the legacy ``org`` as a one-entry list)."""
        return self.orgs or ([GitHubOrg(name=self.org)] if self.org else [])


def _open(entry: ConnectorSettings, config: GitHubConfig, services: ConnectorServices, at: Loc) -> Connector:
    try:
        return GitHubConnector(entry.id, entry.name, config, services.http)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise config_problem((*at, "rootCA"), f"cannot use the CA certificate: {exc}") from exc


TYPE = ConnectorType(name="github", config=GitHubConfig, open=_open)


def email_matches(email: str, domain: str) -> bool:
    """``preferredEmailDomain`` matching: ``example.com`` exactly, ``*.example.com`` any subdomain."""
    got = email.rpartition("@")[2].lower()
    want = domain.lower()
    if want.startswith("*."):
        return got.endswith(want[1:]) and got != want[2:]
    return got == want


def pick_email(emails: list[Any], preferred_domain: str = "") -> str | None:
    """The verified email to use: preferred domain first, else the primary one (``None``: none verified)."""
    verified = [e for e in emails if isinstance(e, dict) and e.get("verified") is True]
    if preferred_domain:
        for e in verified:
            if isinstance(e.get("email"), str) and email_matches(e["email"], preferred_domain):
                return str(e["email"])
    for e in verified:
        if e.get("primary") is True and isinstance(e.get("email"), str):
            return str(e["email"])
    return None


def team_names(team: Mapping[str, Any], field: str) -> list[str]:
    """The names a team contributes (``name``, ``slug`` or both)."""
    keys = ("name", "slug") if field == "both" else (field,)
    return list(dict.fromkeys(str(team[k]) for k in keys if isinstance(team.get(k), str)))


def groups_for(
    config: GitHubConfig, orgs: list[str], teams: Sequence[Mapping[str, Any]]
) -> tuple[list[str], bool]:
    """The groups for a person in ``orgs`` with ``teams``, and whether the org rules let them in."""
    by_org: dict[str, list[str]] = {}
    for team in teams:
        org = team.get("organization")
        login = org.get("login") if isinstance(org, dict) else None
        if isinstance(login, str):
            by_org.setdefault(login.lower(), []).extend(team_names(team, config.teamNameField))
    required = config.required_orgs
    if not required:
        if not config.loadAllGroups:
            return [], True
        groups = list(orgs)
        for org in orgs:
            groups += [f"{org}:{t}" for t in by_org.get(org.lower(), [])]
        return groups, True
    member = {o.lower() for o in orgs}
    groups = []
    for want in required:
        if want.name.lower() not in member:
            continue
        mine = by_org.get(want.name.lower(), [])
        if want.teams:
            allowed = {t.lower() for t in want.teams}
            mine = [t for t in mine if t.lower() in allowed]
            if not mine:
                continue
        groups += [want.name, *(f"{want.name}:{t}" for t in mine)]
    return groups, bool(groups)


class GitHubConnector:
    """GitHub as a :class:`CallbackConnector` and :class:`RefreshConnector`."""

    def __init__(self, id: str, name: str, config: GitHubConfig, http: HTTPClient) -> None:
        self._id, self._name, self.config, self._http = id, name or "GitHub", config, http
        host = config.hostName.rstrip("/")
        if host and "://" not in host:
            host = "https://" + host
        self._web = host or "https://github.com"
        self._api = f"{host}/api/v3" if host else "https://api.github.com"
        self._tls: ssl.SSLContext | None = ssl_context(config.rootCA or None)

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    def _redirect_uri(self, callback_url: str) -> str:
        return self.config.redirectURI or callback_url

    def login_url(self, scopes: tuple[str, ...], callback_url: str, state: str) -> str:
        wanted = ["user:email"]
        if self.config.required_orgs or self.config.loadAllGroups:
            wanted.append("read:org")
        query = {
            "client_id": self.config.clientID,
            "redirect_uri": self._redirect_uri(callback_url),
            "scope": " ".join(wanted),
            "state": state,
        }
        return f"{self._web}/login/oauth/authorize?{urlencode(query)}"

    async def handle_callback(
        self, scopes: tuple[str, ...], callback_url: str, query: Mapping[str, str]
    ) -> Identity:
        code, _ = callback_params(query, "GitHub")
        form = {
            "client_id": self.config.clientID,
            "client_secret": self.config.clientSecret,
            "code": code,
            "redirect_uri": self._redirect_uri(callback_url),
        }
        url = f"{self._web}/login/oauth/access_token"
        token = await token_request(self._http, url, form, what="GitHub token endpoint", tls=self._tls)
        return await self._identity(str(token["access_token"]), refreshing=False)

    async def refresh(self, scopes: tuple[str, ...], identity: Identity) -> Identity:
        try:
            token = json.loads(identity.connector_data)["access_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise LoginRefused("no GitHub token kept for this login; sign in again") from exc
        fresh = await self._identity(str(token), refreshing=True)
        if fresh.user_id != identity.user_id:
            raise LoginRefused("the GitHub account behind this login changed; sign in again")
        return fresh

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}

    async def _get(self, path: str, token: str, refreshing: bool) -> Any:
        resp = await request_json(
            self._http,
            "GET",
            self._api + path,
            what=f"GitHub {path}",
            headers=self._headers(token),
            tls=self._tls,
        )
        if resp.status == 401 and refreshing:
            raise LoginRefused("the GitHub authorization was revoked; sign in again")
        if resp.status != 200:
            message = resp.body.get("message") if isinstance(resp.body, dict) else None
            hint = f" ({message[:120]})" if isinstance(message, str) and message.isprintable() else ""
            raise UpstreamFailed(f"GitHub {path} answered HTTP {resp.status}{hint}")
        return resp.body

    async def _pages(self, path: str, token: str) -> list[Any]:
        return await get_pages(
            self._http,
            f"{self._api}{path}?per_page=100",
            what=f"GitHub {path}",
            headers=self._headers(token),
            tls=self._tls,
            same_origin=self._api + "/",
        )

    async def _identity(self, token: str, *, refreshing: bool) -> Identity:
        user = await self._get("/user", token, refreshing)
        if not isinstance(user, dict) or not isinstance(user.get("id"), int) or not user.get("login"):
            raise UpstreamFailed("GitHub /user: no id or login")
        login = str(user["login"])
        email = pick_email(await self._pages("/user/emails", token), self.config.preferredEmailDomain)
        if email is None:
            raise LoginRefused(f"the GitHub account {login} has no verified primary email address")
        checked_email(email, "GitHub")
        groups: list[str] = []
        if self.config.required_orgs or self.config.loadAllGroups:
            orgs = [str(o["login"]) for o in await self._pages("/user/orgs", token) if isinstance(o, dict)]
            teams = [t for t in await self._pages("/user/teams", token) if isinstance(t, dict)]
            groups, allowed = groups_for(self.config, orgs, teams)
            if not allowed:
                raise LoginRefused(self._refusal(login))
        return Identity(
            user_id=login if self.config.useLoginAsID else str(user["id"]),
            username=str(user.get("name") or login),
            email=email,
            email_verified=True,
            preferred_username=login,
            groups=tuple(dict.fromkeys(groups)),
            connector_data=json.dumps({"access_token": token}),
        )

    def _refusal(self, login: str) -> str:
        parts = []
        for org in self.config.required_orgs:
            teams = f" (teams: {', '.join(org.teams)})" if org.teams else ""
            parts.append(org.name + teams)
        return f"the GitHub account {login} is not a member of {' or '.join(parts)}"

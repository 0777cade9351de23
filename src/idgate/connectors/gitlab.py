"""The ``gitlab`` connector: GitLab.com or a self-hosted GitLab (``baseURL``), with Dex's config keys.

The flow: ``/oauth/authorize`` (scope ``read_user``, plus ``openid`` when groups matter), the code redeemed
at ``/oauth/token``, then ``/api/v4/user`` for the person and ``/oauth/userinfo`` for their groups (full
paths such as ``parent/child``).

- The id is the numeric GitLab user id, or the username with ``useLoginAsID``.
- With ``groups`` the person must be in one of them; only those are emitted. Without, every group is.
- ``getGroupsPermission`` adds ``group:owner`` / ``group:maintainer`` / ``group:developer`` (the highest
  role, from GitLab's ``https://gitlab.org/claims/groups/<role>`` userinfo claims).
- GitLab access tokens expire; refresh redeems the refresh token, then re-reads the user and groups.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from pydantic import Field

from idgate.connectors.base import Connector, ConnectorServices, ConnectorType, Identity
from idgate.connectors.config import ConnectorConfig
from idgate.connectors.email import checked_email
from idgate.connectors.errors import CallbackInvalid, LoginRefused, UpstreamFailed
from idgate.connectors.http import callback_params, request_json, token_request
from idgate.errors import Loc
from idgate.net import HTTPClient
from idgate.settings import ConnectorSettings

__all__ = ["GitLabConfig", "GitLabConnector", "groups_with_permissions"]

ROLES = ("owner", "maintainer", "developer")
ROLE_CLAIM = "https://gitlab.org/claims/groups/{}"


class GitLabConfig(ConnectorConfig):
    """Dex's ``gitlab`` connector config."""

    baseURL: str = "https://gitlab.com"
    clientID: str
    clientSecret: str
    redirectURI: str = ""
    groups: list[str] = Field(default_factory=list)
    useLoginAsID: bool = False
    getGroupsPermission: bool = False


def _open(entry: ConnectorSettings, config: GitLabConfig, services: ConnectorServices, at: Loc) -> Connector:
    return GitLabConnector(entry.id, entry.name, config, services.http)


TYPE = ConnectorType(name="gitlab", config=GitLabConfig, open=_open)


def groups_with_permissions(userinfo: Mapping[str, Any], permissions: bool) -> list[str]:
    """The userinfo ``groups``, each followed by ``group:<highest role>`` when ``permissions``."""
    groups = [g for g in userinfo.get("groups") or [] if isinstance(g, str)]
    if not permissions:
        return groups
    out: list[str] = []
    for group in groups:
        out.append(group)
        for role in ROLES:
            members = userinfo.get(ROLE_CLAIM.format(role))
            if isinstance(members, list) and group in members:
                out.append(f"{group}:{role}")
                break
    return out


class GitLabConnector:
    """GitLab as a :class:`CallbackConnector` and :class:`RefreshConnector`."""

    def __init__(self, id: str, name: str, config: GitLabConfig, http: HTTPClient) -> None:
        self._id, self._name, self.config, self._http = id, name or "GitLab", config, http
        self._base = config.baseURL.rstrip("/")

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    def _redirect_uri(self, callback_url: str) -> str:
        return self.config.redirectURI or callback_url

    def _wants_groups(self, scopes: tuple[str, ...]) -> bool:
        return bool(self.config.groups) or "groups" in scopes

    def login_url(self, scopes: tuple[str, ...], callback_url: str, state: str) -> str:
        scope = "read_user openid" if self._wants_groups(scopes) else "read_user"
        query = {
            "client_id": self.config.clientID,
            "redirect_uri": self._redirect_uri(callback_url),
            "response_type": "code",
            "scope": scope,
            "state": state,
        }
        return f"{self._base}/oauth/authorize?{urlencode(query)}"

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        full = {**form, "client_id": self.config.clientID, "client_secret": self.config.clientSecret}
        return await token_request(
            self._http, f"{self._base}/oauth/token", full, what="GitLab token endpoint"
        )

    async def handle_callback(
        self, scopes: tuple[str, ...], callback_url: str, query: Mapping[str, str]
    ) -> Identity:
        code, _ = callback_params(query, "GitLab")
        token = await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._redirect_uri(callback_url),
            }
        )
        return await self._identity(scopes, token, refreshing=False)

    async def refresh(self, scopes: tuple[str, ...], identity: Identity) -> Identity:
        try:
            refresh_token = json.loads(identity.connector_data)["refresh_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise LoginRefused("no GitLab refresh token kept for this login; sign in again") from exc
        if not isinstance(refresh_token, str) or not refresh_token:
            raise LoginRefused("no GitLab refresh token kept for this login; sign in again")
        try:
            token = await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except CallbackInvalid as exc:
            raise LoginRefused("GitLab refused to refresh this login; sign in again") from exc
        fresh = await self._identity(scopes, token, refreshing=True)
        if fresh.user_id != identity.user_id:
            raise LoginRefused("the GitLab account behind this login changed; sign in again")
        return fresh

    async def _get(self, url: str, access_token: str, what: str, refreshing: bool) -> dict[str, Any]:
        resp = await request_json(
            self._http, "GET", url, what=what, headers={"Authorization": f"Bearer {access_token}"}
        )
        if resp.status == 401 and refreshing:
            raise LoginRefused("the GitLab authorization was revoked; sign in again")
        if resp.status != 200 or not isinstance(resp.body, dict):
            raise UpstreamFailed(f"{what} answered HTTP {resp.status}")
        return resp.body

    async def _identity(
        self, scopes: tuple[str, ...], token: Mapping[str, Any], *, refreshing: bool
    ) -> Identity:
        access = str(token["access_token"])
        user = await self._get(f"{self._base}/api/v4/user", access, "GitLab /api/v4/user", refreshing)
        if not isinstance(user.get("id"), int) or not isinstance(user.get("username"), str):
            raise UpstreamFailed("GitLab /api/v4/user: no id or username")
        username = str(user["username"])
        email = user.get("email")
        if not isinstance(email, str) or not email:
            raise LoginRefused(f"the GitLab account {username} has no email address")
        checked_email(email, "GitLab")
        groups: list[str] = []
        if self._wants_groups(scopes):
            info = await self._get(
                f"{self._base}/oauth/userinfo", access, "GitLab /oauth/userinfo", refreshing
            )
            groups = groups_with_permissions(info, self.config.getGroupsPermission)
            if self.config.groups:
                wanted = set(self.config.groups)
                groups = [g for g in groups if g.split(":", 1)[0] in wanted]
                if not groups:
                    wanted_list = ", ".join(self.config.groups)
                    raise LoginRefused(
                        f"the GitLab account {username} is in none of the groups {wanted_list}"
                    )
        data = {"refresh_token": token.get("refresh_token") or ""}
        return Identity(
            user_id=username if self.config.useLoginAsID else str(user["id"]),
            username=str(user.get("name") or username),
            email=email,
            email_verified=True,
            preferred_username=username,
            groups=tuple(groups),
            connector_data=json.dumps(data),
        )

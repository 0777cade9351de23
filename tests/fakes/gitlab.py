"""A fake GitLab: the OAuth 2.0 provider (``/oauth/authorize``, ``/oauth/token`` with authorization codes
and rotating refresh tokens, RFC 6749 §5.2 errors), ``/api/v4/user`` and ``/oauth/userinfo`` with
``groups`` and the ``https://gitlab.org/claims/groups/<role>`` claims. 401 bodies are GitLab's
``{"message": "401 Unauthorized"}``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web


@dataclass
class GitLabUser:
    id: int
    username: str
    name: str
    email: str
    groups: list[str] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)  # group -> owner / maintainer / developer


@dataclass
class FakeGitLab:
    client_id: str = "gl-client"
    client_secret: str = "gl-secret"
    users: dict[str, GitLabUser] = field(default_factory=dict)
    login_as: str = ""
    codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code -> (login, redirect, scope)
    access: dict[str, str] = field(default_factory=dict)
    refresh: dict[str, str] = field(default_factory=dict)
    last_scope: str = ""

    def revoke(self, username: str) -> None:
        self.access = {t: u for t, u in self.access.items() if u != username}
        self.refresh = {t: u for t, u in self.refresh.items() if u != username}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/oauth/authorize", self.authorize)
        app.router.add_post("/oauth/token", self.token)
        app.router.add_get("/api/v4/user", self.user)
        app.router.add_get("/oauth/userinfo", self.userinfo)
        return app

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return web.json_response({"error": "invalid_client"}, status=401)
        self.last_scope = q.get("scope", "")
        code = secrets.token_hex(16)
        self.codes[code] = (self.login_as, q["redirect_uri"], self.last_scope)
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "authorization_code":
            entry = self.codes.pop(str(form.get("code", "")), None)
            if entry is None or entry[1] != form.get("redirect_uri"):
                return web.json_response(
                    {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization grant is invalid",
                    },
                    status=400,
                )
            who = entry[0]
        elif form.get("grant_type") == "refresh_token":
            found = self.refresh.pop(str(form.get("refresh_token", "")), None)
            if found is None:
                return web.json_response({"error": "invalid_grant"}, status=400)
            who = found
        else:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        access, refresh = secrets.token_hex(16), secrets.token_hex(16)
        self.access[access], self.refresh[refresh] = who, who
        return web.json_response(
            {"access_token": access, "token_type": "Bearer", "expires_in": 7200, "refresh_token": refresh}
        )

    def _who(self, request: web.Request) -> GitLabUser | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        login = self.access.get(token) if scheme == "Bearer" else None
        return self.users.get(login) if login else None

    async def user(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if who is None:
            return web.json_response({"message": "401 Unauthorized"}, status=401)
        return web.json_response(
            {"id": who.id, "username": who.username, "name": who.name, "email": who.email, "state": "active"}
        )

    async def userinfo(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if who is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        body: dict[str, Any] = {"sub": str(who.id), "nickname": who.username, "groups": who.groups}
        for role in ("owner", "maintainer", "developer"):
            body[f"https://gitlab.org/claims/groups/{role}"] = [g for g, r in who.roles.items() if r == role]
        return web.json_response(body)

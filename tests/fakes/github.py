"""A fake GitHub (Enterprise) speaking the documented OAuth web flow and the REST API paths idgate reads.

- ``GET /login/oauth/authorize``: logs in ``fake.login_as`` at once (no page) and redirects to
  ``redirect_uri?code=...&state=...``; an unknown ``client_id`` answers 404 as GitHub does.
- ``POST /login/oauth/access_token``: form body; answers **200** with ``{"error": "bad_verification_code"}``
  for a wrong, reused or foreign code (GitHub's documented behaviour), else ``{"access_token", ...}``.
- ``/api/v3/user``, ``/user/emails``, ``/user/orgs``, ``/user/teams`` (under ``api_prefix``): ``Bearer`` or
  ``token`` auth, 401 ``{"message": "Bad credentials"}`` otherwise; ``per_page``/``page`` pagination with
  ``Link: <...>; rel="next", <...>; rel="last"``, pages capped at ``max_per_page`` to force several pages.
  Teams are whole team objects as GitHub lists them (~1.1 KB each, the organization included), and
  ``slow_pieces`` makes every API page arrive in that many slow writes, as from a distant API.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from tests.fakes.server import dribble


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str = ""
    emails: list[dict[str, Any]] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    teams: list[tuple[str, str, str]] = field(default_factory=list)  # (org, name, slug)


@dataclass
class FakeGitHub:
    client_id: str = "gh-client"
    client_secret: str = "gh-secret"
    api_prefix: str = "/api/v3"
    max_per_page: int = 2
    users: dict[str, GitHubUser] = field(default_factory=dict)
    login_as: str = ""
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (login, redirect_uri)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    requests: list[str] = field(default_factory=list)
    slow_pieces: int = 0  # > 0: API pages are written in this many pieces, 20 ms apart

    def revoke(self, login: str) -> None:
        self.tokens = {t: u for t, u in self.tokens.items() if u != login}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/login/oauth/authorize", self.authorize)
        app.router.add_post("/login/oauth/access_token", self.access_token)
        p = self.api_prefix
        app.router.add_get(f"{p}/user", self.user)
        app.router.add_get(f"{p}/user/emails", self.listing("emails"))
        app.router.add_get(f"{p}/user/orgs", self.listing("orgs"))
        app.router.add_get(f"{p}/user/teams", self.listing("teams"))
        return app

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != self.client_id:
            return web.Response(status=404, text="Not Found")
        code = secrets.token_hex(10)
        self.codes[code] = (self.login_as, q.get("redirect_uri", ""))
        back = {"code": code, "state": q.get("state", "")}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(back)}")

    async def access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return web.json_response({"error": "incorrect_client_credentials"})
        entry = self.codes.pop(str(form.get("code", "")), None)
        if entry is None or entry[1] != form.get("redirect_uri", entry[1]):
            return web.json_response(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                }
            )
        token = "gho_" + secrets.token_hex(16)
        self.tokens[token] = entry[0]
        return web.json_response({"access_token": token, "token_type": "bearer", "scope": "user:email"})

    def _who(self, request: web.Request) -> GitHubUser | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        login = self.tokens.get(token) if scheme.lower() in ("bearer", "token") else None
        self.requests.append(request.path_qs)
        return self.users.get(login) if login else None

    @staticmethod
    def _unauthorised() -> web.Response:
        return web.json_response(
            {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}, status=401
        )

    async def user(self, request: web.Request) -> web.Response:
        who = self._who(request)
        if who is None:
            return self._unauthorised()
        return web.json_response({"id": who.id, "login": who.login, "name": who.name or None, "email": None})

    def listing(self, kind: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            who = self._who(request)
            if who is None:
                return self._unauthorised()
            items: list[Any]
            if kind == "emails":
                items = who.emails
            elif kind == "orgs":
                items = [{"login": o, "id": abs(hash(o)) % 10000} for o in who.orgs]
            else:
                items = [self._team(request, i, *team) for i, team in enumerate(who.teams)]
            return await self._page(request, items)

        return handler

    def _team(self, request: web.Request, index: int, org: str, name: str, slug: str) -> dict[str, Any]:
        """A team as ``GET /user/teams`` lists it: the team's fields and its whole organization."""
        api = f"{request.url.origin()}{self.api_prefix}"
        org_id = abs(hash(org)) % 10_000_000
        return {
            "id": 4_000_000 + index,
            "node_id": f"T_kwDOA{index:08d}zgBz",
            "url": f"{api}/organizations/{org_id}/team/{4_000_000 + index}",
            "html_url": f"{request.url.origin()}/orgs/{org}/teams/{slug}",
            "name": name,
            "slug": slug,
            "description": f"The {name} team",
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "pull",
            "members_url": f"{api}/organizations/{org_id}/team/{4_000_000 + index}/members{{/member}}",
            "repositories_url": f"{api}/organizations/{org_id}/team/{4_000_000 + index}/repos",
            "parent": None,
            "members_count": 7,
            "repos_count": 12,
            "created_at": "2019-04-02T09:12:45Z",
            "updated_at": "2024-11-19T16:03:11Z",
            "organization": {
                "login": org,
                "id": org_id,
                "node_id": f"MDEyOk9yZ2FuaXphdGlvbj{org_id:08d}",
                "url": f"{api}/orgs/{org}",
                "repos_url": f"{api}/orgs/{org}/repos",
                "members_url": f"{api}/orgs/{org}/members{{/member}}",
                "avatar_url": f"https://avatars.example.com/u/{org_id}?v=4",
                "description": f"{org}, the organisation",
                "name": org.title(),
                "is_verified": True,
                "public_repos": 154,
                "html_url": f"{request.url.origin()}/{org}",
                "created_at": "2016-02-11T12:37:05Z",
                "type": "Organization",
            },
        }

    async def _page(self, request: web.Request, items: list[Any]) -> web.StreamResponse:
        per_page = min(int(request.query.get("per_page", "30")), self.max_per_page)
        page = int(request.query.get("page", "1"))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        base = request.url.with_query({k: v for k, v in request.query.items() if k != "page"})
        if page < last:
            links.append(f'<{base.update_query(page=page + 1)}>; rel="next"')
            links.append(f'<{base.update_query(page=last)}>; rel="last"')
        headers = {"Link": ", ".join(links)} if links else {}
        if self.slow_pieces:
            return await dribble(
                request, json.dumps(chunk).encode(), pieces=self.slow_pieces, headers=headers
            )
        return web.json_response(chunk, headers=headers)

"""A fake Google: the OpenID Connect side (``hd`` claim for Workspace accounts, ``access_type=offline``
refresh tokens) from :mod:`tests.fakes.oidc`, plus the service-account token endpoint (RFC 7523 JWT
bearer grant, checked against the key file's public key) and the Admin SDK Directory API's
``GET /admin/directory/v1/groups?userKey=...`` with ``pageToken`` pagination. A ``userKey`` may be a
person's or a group's email (the groups a group is in: nested groups); ``fake.listed`` records each one."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from tests.fakes.oidc import FakeOIDC

SCOPE = "https://www.googleapis.com/auth/admin.directory.group.readonly"


@dataclass
class FakeGoogle(FakeOIDC):
    client_id: str = "google-client"
    client_secret: str = "google-secret"
    always_refresh: bool = True
    sa_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048))
    sa_email: str = "idgate@project.iam.gserviceaccount.com"
    admins: set[str] = field(default_factory=set)  # whom the service account may act as
    memberships: dict[str, list[str]] = field(default_factory=dict)  # user or group email -> group emails
    listed: list[str] = field(default_factory=list)  # userKey of each groups.list call
    page_size: int = 1
    directory_tokens: dict[str, str] = field(default_factory=dict)  # token -> admin

    def key_file(self, path: Path) -> Path:
        doc = {
            "type": "service_account",
            "project_id": "project",
            "private_key_id": "sa-1",
            "private_key": self.sa_key.as_pem(private=True).decode(),
            "client_email": self.sa_email,
            "token_uri": f"{self.issuer}/token",
        }
        path.write_text(json.dumps(doc))
        return path

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/admin/directory/v1/groups", self.groups)
        return app

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return await super().token(request)
        try:
            claims: dict[str, Any] = jwt.decode(
                str(form.get("assertion", "")), self.sa_key, algorithms=["RS256"]
            ).claims
        except (JoseError, ValueError):
            return self._error("invalid_grant")
        if claims.get("iss") != self.sa_email or claims.get("aud") != f"{self.issuer}/token":
            return self._error("invalid_grant")
        if claims.get("scope") != SCOPE or claims.get("sub") not in self.admins:
            return web.json_response({"error": "unauthorized_client"}, status=401)
        token = "ya29." + secrets.token_urlsafe(12)
        self.directory_tokens[token] = str(claims["sub"])
        return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    async def groups(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.directory_tokens:
            return web.json_response({"error": {"code": 401, "message": "Invalid Credentials"}}, status=401)
        user = request.query.get("userKey", "")
        self.listed.append(user)
        groups = self.memberships.get(user, [])
        start = int(request.query.get("pageToken", "0") or 0)
        chunk = groups[start : start + self.page_size]
        body: dict[str, Any] = {
            "kind": "admin#directory#groups",
            "groups": [{"kind": "admin#directory#group", "email": g, "name": g.split("@")[0]} for g in chunk],
        }
        if start + self.page_size < len(groups):
            body["nextPageToken"] = str(start + self.page_size)
        return web.json_response(body)

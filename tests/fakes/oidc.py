"""A small fake OpenID Connect provider (Core 1.0 code flow, Discovery 1.0, RFC 7636 PKCE, refresh tokens).

- ``/.well-known/openid-configuration``, ``/keys`` (JWKS, one RS256 key), ``/userinfo`` (Bearer);
- ``/auth``: logs in ``fake.login_as`` at once and redirects back with ``code`` and ``state``; it records the
  ``nonce``, ``code_challenge`` and ``prompt`` it received (``fake.last_auth``);
- ``/token``: ``client_secret_basic``, ``client_secret_post`` (refused with ``basic_auth_only``) or
  ``client_id`` alone in the form for a public client; the method used is kept in ``fake.last_client_auth``;
  ``authorization_code`` checks the redirect URI and the PKCE ``S256`` verifier and issues an ID token with
  the recorded nonce; ``refresh_token`` issues a new ID token without a nonce; errors are RFC 6749 §5.2
  JSON (``invalid_grant``, ``invalid_client``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Grant:
    login: str
    redirect_uri: str
    nonce: str
    challenge: str
    scope: str
    method: str = "S256"


@dataclass
class FakeOIDC:
    client_id: str = "oidc-client"
    client_secret: str = "oidc-secret"
    issuer: str = ""  # set once the server listens
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # login -> claims
    login_as: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, str] = field(default_factory=dict)  # token -> login
    refresh: dict[str, Grant] = field(default_factory=dict)
    last_auth: dict[str, str] = field(default_factory=dict)
    nonce_override: str | None = None
    always_refresh: bool = False  # issue a refresh token even without offline_access (as Google does)
    basic_auth_only: bool = False  # refuse client_secret_post
    post_auth_only: bool = False  # refuse client_secret_basic (as providers that need basicAuthUnsupported)
    last_client_auth: str = ""

    def revoke(self, login: str) -> None:
        self.access = {t: u for t, u in self.access.items() if u != login}
        self.refresh = {t: g for t, g in self.refresh.items() if g.login != login}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/auth", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/keys", self.jwks)
        app.router.add_get("/userinfo", self.userinfo)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/auth",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/keys",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def jwks(self, request: web.Request) -> web.Response:
        public = self.key.as_dict(private=False)
        return web.json_response({"keys": [{**public, "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        self.last_auth = dict(q)
        if q.get("client_id") != self.client_id:
            return web.Response(status=400, text="unknown client")
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(
            self.login_as,
            q["redirect_uri"],
            q.get("nonce", ""),
            q.get("code_challenge", ""),
            q.get("scope", ""),
            q.get("code_challenge_method", "plain"),  # RFC 7636 §4.3: plain when absent
        )
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    def _client_ok(self, request: web.Request, form: Any) -> bool:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            self.last_client_auth = "client_secret_basic"
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            return not self.post_auth_only and user == self.client_id and pw == self.client_secret
        if "client_secret" in form:
            self.last_client_auth = "client_secret_post"
            return (
                not self.basic_auth_only
                and form.get("client_id") == self.client_id
                and form.get("client_secret") == self.client_secret
            )
        self.last_client_auth = "none"
        return form.get("client_id") == self.client_id and not self.client_secret

    @staticmethod
    def _error(code: str, status: int = 400) -> web.Response:
        return web.json_response({"error": code}, status=status)

    def claims_for(self, login: str) -> dict[str, Any]:
        return dict(self.users[login])

    def id_token(self, grant: Grant, nonce: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **self.claims_for(grant.login),
        }
        if nonce is not None:
            claims["nonce"] = self.nonce_override if self.nonce_override is not None else nonce
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self._client_ok(request, form):
            return self._error("invalid_client", 401)
        kind = form.get("grant_type")
        if kind == "authorization_code":
            grant = self.codes.pop(str(form.get("code", "")), None)
            if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                return self._error("invalid_grant")
            verifier = str(form.get("code_verifier", ""))
            digest = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            )
            if grant.method == "plain":
                digest = verifier
            if grant.challenge and digest != grant.challenge:
                return self._error("invalid_grant")
            nonce: str | None = grant.nonce
        elif kind == "refresh_token":
            grant = self.refresh.pop(str(form.get("refresh_token", "")), None)
            if grant is None:
                return self._error("invalid_grant")
            nonce = None
        else:
            return self._error("unsupported_grant_type")
        access = secrets.token_urlsafe(16)
        self.access[access] = grant.login
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(grant, nonce),
        }
        if "offline_access" in grant.scope.split() or self.always_refresh:
            refresh = secrets.token_urlsafe(16)
            self.refresh[refresh] = grant
            body["refresh_token"] = refresh
        return web.json_response(body)

    async def userinfo(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        login = self.access.get(token) if scheme == "Bearer" else None
        if login is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(self.userinfo_claims(login))

    def userinfo_claims(self, login: str) -> dict[str, Any]:
        return self.claims_for(login)

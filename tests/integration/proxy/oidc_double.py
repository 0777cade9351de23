"""A small but real OpenID Connect provider for tests: "any OIDC provider", as the proxy sees one.

It serves discovery, a JWKS, an authorization endpoint that signs in a fixed person at once, and a
token endpoint that checks ``client_secret_basic``, the redirect URI, single-use codes and PKCE S256.
Knobs let a test break it (``down``, ``claims``, ``signing_key``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode

from aiohttp import web
from aiohttp.test_utils import TestServer
from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    challenge: str


@dataclass
class OIDCDouble:
    """State of the test provider; ``issuer`` is known once :meth:`start` has run."""

    client_id: str = "grafana"
    client_secret: str = "grafana secret/+:"
    redirect_uris: tuple[str, ...] = ()
    signing_key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    )
    claims: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "alice-id",
            "email": "alice@example.com",
            "email_verified": True,
            "preferred_username": "alice",
            "groups": ["org", "org:team"],
        }
    )
    down: bool = False
    now: float = 1_800_000_000.0
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    jwks_fetches: int = 0
    server: TestServer | None = None

    @property
    def issuer(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/idp")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/idp/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/idp/keys", self._keys)
        app.router.add_get("/idp/auth", self._authorize)
        app.router.add_post("/idp/token", self._token)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": self.issuer + "/auth",
                "token_endpoint": self.issuer + "/token",
                "jwks_uri": self.issuer + "/keys",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response({"keys": [self.signing_key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("redirect_uri") not in self.redirect_uris:
            return web.Response(status=400, text="unknown client or redirect_uri")
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return web.Response(status=400, text="bad request")
        code = secrets.token_urlsafe(16)
        self.grants[code] = Grant(
            q["client_id"], q["redirect_uri"], q.get("nonce", ""), q.get("code_challenge", "")
        )
        target = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        raise web.HTTPFound(target)

    def _client(self, request: web.Request) -> tuple[str, str] | None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return unquote_plus(user), unquote_plus(password)

    async def _token(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="down for maintenance")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        if self._client(request) != (self.client_id, self.client_secret):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return web.json_response({"error": "invalid_grant"}, status=400)
        body = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "nonce": grant.nonce,
            "iat": int(self.now),
            "exp": int(self.now) + 600,
            **self.claims,
        }
        header = {"alg": "RS256", "kid": self.signing_key.kid}
        id_token = jwt.encode(header, body, self.signing_key, algorithms=["RS256"])
        return web.json_response(
            {
                "access_token": "at-" + secrets.token_urlsafe(8),
                "token_type": "Bearer",
                "expires_in": 600,
                "id_token": id_token,
            }
        )

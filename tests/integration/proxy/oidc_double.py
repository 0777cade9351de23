"""A small but real OpenID Connect provider for tests: "any OIDC provider", as the proxy sees one.

It serves discovery, a JWKS, an authorization endpoint that signs in a fixed person at once, a
token endpoint that checks ``client_secret_basic``, the redirect URI, single-use codes and PKCE S256 (and
redeems refresh tokens), a UserInfo endpoint and an ``end_session_endpoint`` that records its queries.
Knobs let a test break it (``down``, ``claims``, ``signing_key``, ``id_token_claims``,
``refuse_refresh``; ``refresh_claims`` / ``refresh_key``: a refresh answers an ID token with these claims
changed, or signed with another key) or slow it (``slow_pieces``: token responses written in that many
pieces, 20 ms apart). :meth:`OIDCDouble.mint` signs any JWT for tests of bearer tokens.
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
from tests.fakes.server import dribble


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
    #: Claims left out of the ID token (then only UserInfo has them, OIDC Core §5.4).
    id_token_omits: tuple[str, ...] = ()
    userinfo_claims: dict[str, Any] | None = None  # None: the same as ``claims``
    userinfo_requests: int = 0
    refresh_tokens: bool = False  # issue refresh tokens
    end_session: bool = True  # offer end_session_endpoint in discovery
    refuse_refresh: bool = False
    refresh_claims: dict[str, Any] = field(default_factory=dict)  # laid over a refreshed ID token's claims
    refresh_key: RSAKey | None = None  # signs a refreshed ID token instead of ``signing_key``
    refreshes: int = 0
    slow_pieces: int = 0
    authorize_queries: list[dict[str, str]] = field(default_factory=list)
    end_session_queries: list[dict[str, str]] = field(default_factory=list)
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
        app.router.add_get("/idp/userinfo", self._userinfo)
        app.router.add_get("/idp/logout", self._end_session)
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
                "userinfo_endpoint": self.issuer + "/userinfo",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                **({"end_session_endpoint": self.issuer + "/logout"} if self.end_session else {}),
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response({"keys": [self.signing_key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        self.authorize_queries.append(dict(q))
        if q.get("client_id") != self.client_id or q.get("redirect_uri") not in self.redirect_uris:
            return web.Response(status=400, text="unknown client or redirect_uri")
        if q.get("response_type") != "code" or q.get("code_challenge_method") not in ("S256", "plain"):
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

    async def _token(self, request: web.Request) -> web.StreamResponse:
        resp = await self._token_response(request)
        if not self.slow_pieces or not isinstance(resp.body, bytes):
            return resp
        return await dribble(request, resp.body, pieces=self.slow_pieces, status=resp.status)

    async def _token_response(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503, text="down for maintenance")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        if self._client(request) != (self.client_id, self.client_secret):
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "refresh_token":
            return self._refresh(form)
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        if grant.challenge not in (base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), verifier):
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(self._tokens(grant.client_id, grant.nonce))

    def _refresh(self, form: dict[str, str]) -> web.Response:
        self.refreshes += 1
        if self.refuse_refresh or not form.get("refresh_token", "").startswith("rt-"):
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(self._tokens(self.client_id, None, self.refresh_claims, self.refresh_key))

    def _tokens(
        self, client_id: str, nonce: str | None, over: dict[str, Any] | None = None, key: Any = None
    ) -> dict[str, Any]:
        claims = {k: v for k, v in self.claims.items() if k not in self.id_token_omits}
        body = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": int(self.now),
            "exp": int(self.now) + 600,
            **claims,
        }
        if nonce is not None:
            body["nonce"] = nonce
        body.update(over or {})
        tokens: dict[str, Any] = {
            "access_token": "at-" + secrets.token_urlsafe(8),
            "token_type": "Bearer",
            "expires_in": 600,
            "id_token": self.mint(body, key=key),
        }
        if self.refresh_tokens:
            tokens["refresh_token"] = "rt-" + secrets.token_urlsafe(8)
        return tokens

    def mint(self, body: dict[str, Any], *, key: Any = None, alg: str = "RS256", **header: Any) -> str:
        """A JWT over ``body`` signed with ``key`` (default: this provider's signing key)."""
        key = self.signing_key if key is None else key
        head = {"alg": alg, **({"kid": key.kid} if getattr(key, "kid", None) else {}), **header}
        return jwt.encode(head, body, key, algorithms=[alg])

    def token_claims(self, **over: Any) -> dict[str, Any]:
        """The claims of a valid token of this provider for ``aud`` = the client (``None`` drops one)."""
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": int(self.now),
            "exp": int(self.now) + 600,
            **self.claims,
        }
        body.update(over)
        return {k: v for k, v in body.items() if v is not None}

    async def _userinfo(self, request: web.Request) -> web.Response:
        self.userinfo_requests += 1
        if not request.headers.get("Authorization", "").startswith("Bearer at-"):
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(self.claims if self.userinfo_claims is None else self.userinfo_claims)

    async def _end_session(self, request: web.Request) -> web.Response:
        self.end_session_queries.append(dict(request.query))
        return web.Response(text="signed out at the provider")

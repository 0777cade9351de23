"""Shared pieces of the provider web tests: settings like kkp-values.md §6, and a browser-ish driver."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from idgate.clock import FrozenClock
from idgate.oauth2 import pkce
from idgate.settings import ClientSettings, ProviderSettings, StaticPassword
from idgate.storage import Storage

ISSUER = "http://localhost:4180/dex"
CB = "https://prometheus.kkp.example.com/oauth/callback"
SECRET = "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX"
EMAIL = "kubermatic@example.com"
PASSWORD = "password"
KKP_HASH = b"$2a$10$zMJhg/3axbm/m0KmoVxJiO1eO5gtNrgKDysy5GafQFrXY93OE9LsK"
USER_ID = "08a8684b-db88-4b73-90a9-3cd1661f5466"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

SETTINGS = ProviderSettings(
    issuer=ISSUER,
    clients=(
        ClientSettings(id="prometheus", secret=SECRET, name="Prometheus", redirect_uris=(CB,)),
        ClientSettings(
            id="grafana", secret="Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN", redirect_uris=("https://grafana/cb",)
        ),
    ),
    static_passwords=(StaticPassword(email=EMAIL, hash=KKP_HASH, username="admin", user_id=USER_ID),),
)


def auth_params(**changes: str) -> dict[str, str]:
    params = {
        "client_id": "prometheus",
        "redirect_uri": CB,
        "response_type": "code",
        "scope": "openid email groups profile",
        "state": "xyz",
        "nonce": "n-1",
        "code_challenge": pkce.s256(VERIFIER),
        "code_challenge_method": "S256",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v != "-"}


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def hidden_req(html: str) -> str:
    match = re.search(r'name="req" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


@dataclass
class Provider:
    client: TestClient  # type: ignore[type-arg]
    clock: FrozenClock
    storage: Storage

    async def start_login(self, **changes: str) -> str:
        """GET /auth then follow to the login form; the pending request id."""
        resp = await self.client.get("/dex/auth", params=auth_params(**changes), allow_redirects=False)
        assert resp.status == 303, await resp.text()
        form = await self.client.get(resp.headers["Location"])
        assert form.status == 200
        return hidden_req(await form.text())

    async def submit(self, req: str, password: str = PASSWORD, login: str = EMAIL) -> ClientResponse:
        return await self.client.post(
            "/dex/auth/local/login",
            data={"req": req, "login": login, "password": password},
            allow_redirects=False,
        )

    async def code(self, **changes: str) -> str:
        resp = await self.submit(await self.start_login(**changes))
        assert resp.status == 303  # a credential POST is answered with 303
        return query_of(resp.headers["Location"])["code"]

"""Small steps shared by the provider flow tests."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet
from tests.unit.provider.support import CB, SECRET, SETTINGS, VERIFIER, Provider, query_of

from idgate.settings import ClientSettings, ProviderSettings

GRAFANA_SECRET = "Gf5tR1eW7qA3sD9fG2hJ6kL0zX4cV8bN"


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


BASIC = basic("prometheus", SECRET)
GRAFANA = basic("grafana", GRAFANA_SECRET)


def settings(**changes: Any) -> ProviderSettings:
    return dataclasses.replace(SETTINGS, **changes)


def with_clients(*extra: ClientSettings, **changes: Any) -> ProviderSettings:
    return settings(clients=(*SETTINGS.clients, *extra), **changes)


async def tokens(
    provider: Provider, code: str, headers: dict[str, str] = BASIC, **form: str
) -> dict[str, Any]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "code_verifier": VERIFIER}
    data.update(form)
    resp = await provider.client.post("/dex/token", data=data, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def offline(provider: Provider) -> dict[str, Any]:
    """A fresh login (``prompt=login``, so the SSO session does not answer) with offline_access: the
    token response (with a refresh token)."""
    code = await provider.code(scope="openid email offline_access", prompt="login")
    return await tokens(provider, code)


async def refresh(provider: Provider, token: str, headers: dict[str, str] = BASIC, **form: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": token, **form}
    return await provider.client.post("/dex/token", data=data, headers=headers)


async def userinfo_status(provider: Provider, access_token: str) -> int:
    resp = await provider.client.get("/dex/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    return resp.status


async def id_claims(
    provider: Provider, token: str, algorithms: tuple[str, ...] = ("RS256",)
) -> dict[str, Any]:
    jwks = KeySet.import_key_set(await (await provider.client.get("/dex/keys")).json())
    return dict(jwt.decode(token, jwks, algorithms=list(algorithms)).claims)


def code_of(location: str) -> str:
    return query_of(location)["code"]

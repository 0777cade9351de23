"""An upstream OpenID provider (the fake of ``tests/fakes/oidc.py`` behind the real ``oidc`` connector)
that says ``email: attacker@evil.com@example.com, email_verified: true``: idgate's provider issues no
code and no ID token for it; the client gets ``access_denied`` with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from tests.fakes.oidc import FakeOIDC
from tests.fakes.server import serve
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import id_claims, tokens
from tests.unit.provider.support import CB, Provider, auth_params, query_of

from idgate.clock import SystemClock
from idgate.connectors.oidc import OIDCConfig, OIDCConnector

ALICE = {"sub": "u-alice", "name": "Alice", "email": "alice@example.com", "email_verified": True}


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[FakeOIDC, OIDCConnector]]:
    fake = FakeOIDC(users={"alice": dict(ALICE)})
    fake.login_as = "alice"
    async with aiohttp.ClientSession() as http, serve(fake.app()) as origin:
        fake.issuer = origin
        config = OIDCConfig.model_validate(
            {"issuer": origin, "clientID": fake.client_id, "clientSecret": fake.client_secret}
        )
        connector = OIDCConnector("upstream", "Upstream", config, http, SystemClock())
        await connector.prepare()
        yield fake, connector


async def through_upstream(provider: Provider) -> str:
    """``/dex/auth``, the upstream, ``/dex/callback``: where the provider then sends the browser."""
    params = auth_params(connector_id="upstream")
    start = await provider.client.get("/dex/auth", params=params, allow_redirects=False)
    step = await provider.client.get(start.headers["Location"], allow_redirects=False)
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(step.headers["Location"], allow_redirects=False) as authorize,
    ):
        back = {k: v[0] for k, v in parse_qs(urlsplit(authorize.headers["Location"]).query).items()}
    done = await provider.client.get("/dex/callback", params=back, allow_redirects=False)
    assert done.status == 302, await done.text()
    location: str = done.headers["Location"]
    assert location.startswith(CB + "?"), location
    return location


async def test_a_verified_double_at_email_gets_no_code(make: Make, upstream: tuple[FakeOIDC, Any]) -> None:
    fake, connector = upstream
    fake.users["alice"]["email"] = "attacker@evil.com@example.com"
    provider = await make(connectors={"upstream": connector})
    answer = query_of(await through_upstream(provider))
    assert "code" not in answer and answer["error"] == "access_denied"
    assert "sent an email address idgate cannot use (more than one @)" in answer["error_description"]


async def test_the_same_upstream_with_a_usable_email_logs_in(
    make: Make, upstream: tuple[FakeOIDC, Any]
) -> None:
    _, connector = upstream
    provider = await make(connectors={"upstream": connector})
    answer = query_of(await through_upstream(provider))
    claims = await id_claims(provider, (await tokens(provider, answer["code"]))["id_token"])
    assert (claims["email"], claims["email_verified"]) == ("alice@example.com", True)

"""The generic callback-connector route ``{path}/callback`` and the connector chooser, with a tiny
in-test CallbackConnector double."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import id_claims, tokens, with_clients
from tests.unit.provider.support import CB, ISSUER, auth_params, query_of

from idgate.connectors.base import CallbackConnector, Identity
from idgate.connectors.errors import CallbackInvalid
from idgate.oidc.subject import encode_subject
from idgate.settings import ClientSettings

UPSTREAM = "https://upstream.example/authorize"


class FakeUpstream:
    """Sends the browser to UPSTREAM; its callback carries ``code=good`` or an ``error``."""

    id = "fake"
    name = "Fake"

    def __init__(self) -> None:
        self.callbacks: list[tuple[str, Mapping[str, str]]] = []

    def login_url(self, scopes: tuple[str, ...], callback_url: str, state: str) -> str:
        return f"{UPSTREAM}?" + urlencode({"redirect_uri": callback_url, "state": state})

    async def handle_callback(
        self, scopes: tuple[str, ...], callback_url: str, query: Mapping[str, str]
    ) -> Identity:
        self.callbacks.append((callback_url, dict(query)))
        if query.get("code") != "good":
            raise CallbackInvalid("the upstream refused the login")
        return Identity(
            user_id="gh-42", username="octo", email="octo@example.com", email_verified=True, groups=("org",)
        )


async def go_upstream(provider, **changes: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    resp = await provider.client.get(
        "/dex/auth", params=auth_params(connector_id="fake", **changes), allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    step = await provider.client.get(resp.headers["Location"], allow_redirects=False)
    assert step.status == 303 and step.headers["Location"].startswith(UPSTREAM)
    return {k: v[0] for k, v in parse_qs(urlsplit(step.headers["Location"]).query).items()}


async def test_a_callback_connector_logs_in_through_dex_callback_path(make: Make) -> None:
    fake = FakeUpstream()
    assert isinstance(fake, CallbackConnector)
    provider = await make(connectors={"fake": fake})
    upstream = await go_upstream(provider, scope="openid email groups federated:id")
    assert upstream["redirect_uri"] == f"{ISSUER}/callback"
    back = await provider.client.get(
        "/dex/callback", params={"state": upstream["state"], "code": "good"}, allow_redirects=False
    )
    assert back.status == 302 and back.headers["Location"].startswith(CB + "?")
    claims = await id_claims(
        provider, (await tokens(provider, query_of(back.headers["Location"])["code"]))["id_token"]
    )
    assert claims["sub"] == encode_subject("gh-42", "fake")
    assert claims["groups"] == ["org"] and claims["federated_claims"] == {
        "connector_id": "fake",
        "user_id": "gh-42",
    }
    assert fake.callbacks[0][0] == f"{ISSUER}/callback"


async def test_a_callback_from_another_browser_or_twice_is_refused(make: Make) -> None:
    provider = await make(connectors={"fake": FakeUpstream()})
    upstream = await go_upstream(provider)
    async with aiohttp.ClientSession() as other:
        url = provider.client.make_url("/dex/callback")
        resp = await other.get(
            url, params={"state": upstream["state"], "code": "good"}, allow_redirects=False
        )
        assert resp.status == 400 and "Location" not in resp.headers
    ok = await provider.client.get(
        "/dex/callback", params={"state": upstream["state"], "code": "good"}, allow_redirects=False
    )
    assert ok.status == 302
    twice = await provider.client.get(
        "/dex/callback", params={"state": upstream["state"], "code": "good"}, allow_redirects=False
    )
    assert twice.status == 400


async def test_an_upstream_refusal_goes_back_to_the_client_as_access_denied(make: Make) -> None:
    provider = await make(connectors={"fake": FakeUpstream()})
    upstream = await go_upstream(provider)
    resp = await provider.client.get(
        "/dex/callback", params={"state": upstream["state"], "error": "denied"}, allow_redirects=False
    )
    params = query_of(resp.headers["Location"])
    assert (params["error"], params["state"], params["iss"]) == ("access_denied", "xyz", ISSUER)


async def test_several_connectors_show_a_chooser_and_allowed_connectors_restrict_it(make: Make) -> None:
    only_fake = ClientSettings(
        id="app", secret="a" * 32, redirect_uris=("https://app/cb",), allowed_connectors=("fake",)
    )
    provider = await make(with_clients(only_fake), connectors={"fake": FakeUpstream()})
    chooser = await provider.client.get("/dex/auth", params=auth_params(), allow_redirects=False)
    html = await chooser.text()
    assert chooser.status == 200 and "Log in with Fake" in html and "Log in with Email" in html
    assert "/dex/auth/local/login?req=" in html
    direct = await provider.client.get(
        "/dex/auth", params=auth_params(client_id="app", redirect_uri="https://app/cb"), allow_redirects=False
    )
    assert direct.status == 303 and direct.headers["Location"].startswith("/dex/auth/fake/login?req=")
    refused = await provider.client.get(
        "/dex/auth",
        params=auth_params(client_id="app", redirect_uri="https://app/cb", connector_id="local"),
        allow_redirects=False,
    )
    assert query_of(refused.headers["Location"])["error"] == "invalid_request"

"""idgate's provider as the certified relying party ``openid-client`` (npm) sees it.

How the parts fit together:

- ``conftest.provider`` runs ``idgate serve --config values.yaml`` as a subprocess, with only a ``dex:``
  section: the static user of the KKP example values and one confidential client whose redirect URI
  is a loopback server (``conftest.loopback``) that just answers 200.
- ``rp.mjs`` is a relying party on ``openid-client`` 6 (pinned in ``package-lock.json`` at the
  repository root, installed by ``npm ci``). :func:`tests.interop.node.rp` runs one step of it per
  Node process and gets its answer as JSON; every step starts with discovery, so the RP learns every
  endpoint from ``/.well-known/openid-configuration`` and from nowhere else.
- pytest plays the browser in between (``tests/e2e/browser.py``): it opens the authorization URL the
  RP built, fills idgate's login form, and hands the URL the browser lands on back to the RP, which
  runs its full callback validation (state, ``iss``, code exchange with the PKCE verifier, ID token
  signature against ``/keys``, ``iss``/``aud``/``exp``/``nonce``/``at_hash``) and calls userinfo.

Refresh, introspection, revocation, device flow and RP-initiated logout test the protocol as
written (Dex's paths under the issuer, found through discovery); an ``RPError`` in a failure is
``openid-client``'s own verdict.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import EMAIL
from tests.interop.conftest import RP_CLIENT_ID, ProviderUnderTest
from tests.interop.flows import bounded, hop_to, idgate_password_login
from tests.interop.node import RPError, rp

pytestmark = pytest.mark.e2e

BASIC_SCOPE = "openid email profile groups"
OFFLINE_SCOPE = "openid email profile groups offline_access"


def refresh_token_of(result: dict[str, Any]) -> str:
    token = result["tokens"].get("refresh_token")
    assert token, f"no refresh token for scope offline_access; token response: {sorted(result['tokens'])}"
    return str(token)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def sign_in(b: Browser, provider: ProviderUnderTest, scope: str = BASIC_SCOPE) -> dict[str, Any]:
    """The authorization code flow, end to end; returns the RP's callback answer and its start."""
    start = await rp("authorize", **provider.client(), redirect_uri=provider.redirect_uri, scope=scope)
    hops = await b.get(start["url"])
    hops = await idgate_password_login(b, hops[-1])
    landed = hop_to(hops, provider.redirect_uri)
    done = await rp(
        "callback",
        **provider.client(),
        callback_url=landed.url,
        code_verifier=start["code_verifier"],
        state=start["state"],
        nonce=start["nonce"],
    )
    return {"start": start, "landed": landed.url, **done}


@bounded()
async def test_code_flow_with_pkce_passes_openid_client_validation(provider: ProviderUnderTest) -> None:
    async with Browser() as b:
        result = await sign_in(b, provider)

    start = result["start"]
    assert start["metadata"]["issuer"] == provider.issuer
    sent = query(start["url"])
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["state"] == start["state"] and sent["nonce"] == start["nonce"]

    # RFC 9207: the provider says who answered, and openid-client checked it against the issuer
    back = query(result["landed"])
    assert back["state"] == start["state"] and back["iss"] == provider.issuer

    claims = result["claims"]
    assert claims["iss"] == provider.issuer
    assert claims["aud"] in (RP_CLIENT_ID, [RP_CLIENT_ID])
    assert claims["nonce"] == start["nonce"]
    assert claims["at_hash"]  # openid-client verified it against the access token
    assert claims["email"] == EMAIL and claims["email_verified"] is True
    assert result["tokens"]["token_type"].lower() == "bearer"

    userinfo = result["userinfo"]
    assert userinfo["sub"] == claims["sub"]  # openid-client checked this too
    assert userinfo["email"] == EMAIL


@bounded()
async def test_refresh_rotates_the_refresh_token(provider: ProviderUnderTest) -> None:
    async with Browser() as b:
        first = await sign_in(b, provider, OFFLINE_SCOPE)
    spent = refresh_token_of(first)

    second = await rp("refresh", **provider.client(), refresh_token=spent)

    fresh = second["tokens"]
    assert refresh_token_of(second) != spent
    assert fresh["access_token"] != first["tokens"]["access_token"]
    assert second["claims"]["sub"] == first["claims"]["sub"]
    # the new access token is good at userinfo
    again = await rp(
        "userinfo", **provider.client(), access_token=fresh["access_token"], subject=first["claims"]["sub"]
    )
    assert again["userinfo"]["email"] == EMAIL


@bounded()
async def test_replayed_refresh_token_is_refused_and_revokes_its_family(provider: ProviderUnderTest) -> None:
    async with Browser() as b:
        first = await sign_in(b, provider, OFFLINE_SCOPE)
    spent = refresh_token_of(first)
    rotated = refresh_token_of(await rp("refresh", **provider.client(), refresh_token=spent))

    with pytest.raises(RPError) as replay:
        await rp("refresh", **provider.client(), refresh_token=spent)
    assert replay.value.error.get("error") == "invalid_grant", replay.value.error

    # the replay means the token leaked: what it was rotated into is dead too
    with pytest.raises(RPError) as heir:
        await rp("refresh", **provider.client(), refresh_token=rotated)
    assert heir.value.error.get("error") == "invalid_grant", heir.value.error


@bounded()
async def test_introspection_describes_live_and_unknown_tokens(provider: ProviderUnderTest) -> None:
    async with Browser() as b:
        result = await sign_in(b, provider, OFFLINE_SCOPE)
    tokens, sub = result["tokens"], result["claims"]["sub"]

    access = (await rp("introspect", **provider.client(), token=tokens["access_token"]))["introspection"]
    assert access["active"] is True
    assert access.get("sub") == sub
    assert access.get("client_id") == RP_CLIENT_ID
    assert access.get("exp", 0) > access.get("iat", 0)

    refresh = (await rp("introspect", **provider.client(), token=refresh_token_of(result)))["introspection"]
    assert refresh["active"] is True

    unknown = (await rp("introspect", **provider.client(), token="not-a-token"))["introspection"]
    assert unknown == {"active": False}


@bounded()
async def test_revoked_refresh_token_stops_working(provider: ProviderUnderTest) -> None:
    async with Browser() as b:
        result = await sign_in(b, provider, OFFLINE_SCOPE)
    refresh_token = refresh_token_of(result)

    assert (await rp("revoke", **provider.client(), token=refresh_token)) == {"revoked": True}
    # RFC 7009 §2.2: revoking an unknown or already revoked token is still a success
    assert (await rp("revoke", **provider.client(), token=refresh_token)) == {"revoked": True}

    with pytest.raises(RPError) as refused:
        await rp("refresh", **provider.client(), refresh_token=refresh_token)
    assert refused.value.error.get("error") == "invalid_grant", refused.value.error


@bounded()
async def test_device_flow_delivers_tokens_to_the_polling_device(provider: ProviderUnderTest) -> None:
    device = (await rp("device_start", **provider.client(), scope=BASIC_SCOPE))["device"]
    assert device["device_code"] and device["user_code"]
    assert device["verification_uri"].startswith(provider.issuer + "/device")

    # the device polls (authorization_pending, maybe slow_down) while the person approves elsewhere
    polling = asyncio.create_task(rp("device_poll", **provider.client(), device=device, timeout=40))
    try:
        async with Browser() as b:
            hops = await b.get(device["verification_uri"])
            assert hops[-1].status == 200, hops[-1].body[:500]
            hops = await b.submit(hops[-1], {"user_code": device["user_code"]})
            hops = await idgate_password_login(b, hops[-1])
            assert hops[-1].status == 200, [(h.url, h.status) for h in hops]
        result = await polling
    finally:
        if not polling.done():
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)  # rp() kills its node process

    assert result["tokens"]["access_token"]
    assert result["claims"]["email"] == EMAIL
    assert result["claims"]["aud"] in (RP_CLIENT_ID, [RP_CLIENT_ID])

    # a device code is delivered once
    with pytest.raises(RPError) as again:
        await rp("device_poll", **provider.client(), device=device, timeout=10)
    assert again.value.error.get("error") in ("invalid_grant", "expired_token"), again.value.error


@bounded()
async def test_end_session_url_ends_the_login_and_returns_with_state(provider: ProviderUnderTest) -> None:
    async with Browser() as b:
        result = await sign_in(b, provider, OFFLINE_SCOPE)
        built = await rp(
            "end_session",
            **provider.client(),
            id_token_hint=result["tokens"]["id_token"],
            post_logout_redirect_uri=provider.post_logout_redirect_uri,
            state="bye-123",
        )
        url = urlsplit(built["url"])
        assert f"{url.scheme}://{url.netloc}{url.path}" == provider.issuer + "/logout"

        hops = await b.get(built["url"])
        # a logout page may ask for confirmation first
        reached = any(h.url.startswith(provider.post_logout_redirect_uri) for h in hops)
        if not reached and hops[-1].status == 200 and 'method="post"' in hops[-1].body.lower():
            hops = await b.submit(hops[-1], {})
        back = hop_to(hops, provider.post_logout_redirect_uri)
        assert query(back.url).get("state") == "bye-123"

        # the login session is over: the next authorization asks for the password again
        start = await rp(
            "authorize", **provider.client(), redirect_uri=provider.redirect_uri, scope=BASIC_SCOPE
        )
        hops = await b.get(start["url"])
        assert 'name="password"' in hops[-1].body, [(h.url, h.status) for h in hops]

    # and the refresh tokens of that session with it
    with pytest.raises(RPError) as refused:
        await rp("refresh", **provider.client(), refresh_token=refresh_token_of(result))
    assert refused.value.error.get("error") == "invalid_grant", refused.value.error

"""The device authorization grant (RFC 8628) over HTTP: /device/code, the /device page, polling."""

from __future__ import annotations

from typing import Any

from tests.integration.provider.helpers import BASIC, id_claims
from tests.unit.provider.support import ISSUER, Provider, hidden_req

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


async def start(provider: Provider) -> dict[str, Any]:
    resp = await provider.client.post("/dex/device/code", data={"scope": "openid email"}, headers=BASIC)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def poll(provider: Provider, device_code: str, path: str = "/dex/device/token") -> Any:
    return await provider.client.post(
        path, data={"grant_type": GRANT, "device_code": device_code}, headers=BASIC
    )


async def approve(provider: Provider, user_code: str) -> str:
    entered = await provider.client.post("/dex/device", data={"user_code": user_code}, allow_redirects=False)
    assert entered.status == 303, await entered.text()
    form = await provider.client.get(entered.headers["Location"])
    done = await provider.submit(hidden_req(await form.text()))
    assert done.status == 200
    return await done.text()


async def test_the_whole_device_flow(provider: Provider) -> None:
    started = await start(provider)
    assert started["verification_uri"] == f"{ISSUER}/device"
    assert started["verification_uri_complete"].startswith(f"{ISSUER}/device?user_code=")
    assert started["interval"] == 5 and started["expires_in"] == 300
    assert len(started["user_code"]) == 9 and started["user_code"][4] == "-"
    pending = await poll(provider, started["device_code"])
    assert pending.status == 400 and (await pending.json())["error"] == "authorization_pending"
    page = await provider.client.get("/dex/device", params={"user_code": started["user_code"]})
    assert started["user_code"] in await page.text()
    assert "Device connected" in await approve(provider, started["user_code"].lower())
    provider.clock.advance(5)
    ok = await poll(provider, started["device_code"], "/dex/token")  # the token endpoint works too
    assert ok.status == 200 and ok.headers["Cache-Control"] == "no-store"
    claims = await id_claims(provider, (await ok.json())["id_token"])
    assert claims["aud"] == "prometheus" and claims["email"]
    provider.clock.advance(5)
    again = await poll(provider, started["device_code"])
    assert (await again.json())["error"] == "invalid_grant"  # delivered once


async def test_the_link_carries_the_code_as_shown_and_any_form_of_it_is_accepted(provider: Provider) -> None:
    started = await start(provider)
    shown = started["user_code"]  # XXXX-XXXX, as the device shows it
    assert started["verification_uri_complete"] == f"{ISSUER}/device?user_code={shown}"
    for typed in (shown, shown.replace("-", ""), shown.replace("-", "").lower(), f" {shown.lower()} "):
        page = await provider.client.get("/dex/device", params={"user_code": typed})
        assert f'value="{shown}"' in await page.text(), typed
    mistyped = await provider.client.get("/dex/device", params={"user_code": "ABC"})
    assert 'value="ABC"' in await mistyped.text()  # not a code: left as typed
    assert "Device connected" in await approve(provider, shown.replace("-", "").lower())


async def test_polling_too_fast_is_slow_down_and_the_interval_grows(provider: Provider) -> None:
    started = await start(provider)
    await poll(provider, started["device_code"])
    provider.clock.advance(1)
    fast = await poll(provider, started["device_code"])
    assert (await fast.json())["error"] == "slow_down"
    provider.clock.advance(6)  # still under the new interval of 10 s
    assert (await (await poll(provider, started["device_code"])).json())["error"] == "slow_down"
    provider.clock.advance(16)
    assert (await (await poll(provider, started["device_code"])).json())["error"] == "authorization_pending"


async def test_an_expired_device_code_is_expired_token(provider: Provider) -> None:
    started = await start(provider)
    provider.clock.advance(301)
    resp = await poll(provider, started["device_code"])
    assert (await resp.json())["error"] == "expired_token"
    page = await provider.client.post("/dex/device", data={"user_code": started["user_code"]})
    assert page.status == 400 and "not valid or has expired" in await page.text()


async def test_unknown_codes(provider: Provider) -> None:
    resp = await poll(provider, "nope")
    assert (await resp.json())["error"] == "invalid_grant"
    page = await provider.client.post("/dex/device", data={"user_code": "BCDF-GHJK"})
    assert page.status == 400
    missing = await provider.client.post("/dex/device/token", data={"grant_type": GRANT}, headers=BASIC)
    assert (await missing.json())["error"] == "invalid_request"


async def test_device_code_of_another_client_is_refused(provider: Provider) -> None:
    from tests.integration.provider.helpers import GRAFANA

    started = await start(provider)
    resp = await provider.client.post(
        "/dex/device/token",
        data={"grant_type": GRANT, "device_code": started["device_code"]},
        headers=GRAFANA,
    )
    assert (await resp.json())["error"] == "invalid_grant"


async def test_device_code_needs_client_authentication(provider: Provider) -> None:
    resp = await provider.client.post("/dex/device/code", data={"client_id": "prometheus", "scope": "openid"})
    assert resp.status == 401 and (await resp.json())["error"] == "invalid_client"

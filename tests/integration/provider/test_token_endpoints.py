"""Introspection (RFC 7662), revocation (RFC 7009), the password grant, the implicit flow, cross-client
trust, ES256, and code replay revoking what the first redemption issued."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import (
    BASIC,
    GRAFANA,
    id_claims,
    offline,
    refresh,
    settings,
    tokens,
    userinfo_status,
    with_clients,
)
from tests.unit.provider.support import CB, EMAIL, ISSUER, PASSWORD, Provider, auth_params, query_of

from idgate.settings import ClientSettings


async def introspect(provider: Provider, token: str, headers: dict[str, str] = BASIC, **extra: str):  # type: ignore[no-untyped-def]
    resp = await provider.client.post(
        "/dex/token/introspect", data={"token": token, **extra}, headers=headers
    )
    return resp.status, await resp.json()


async def revoke(provider: Provider, token: str, headers: dict[str, str] = BASIC) -> int:
    resp = await provider.client.post("/dex/token/revoke", data={"token": token}, headers=headers)
    return resp.status


async def test_introspection_describes_live_tokens_only(provider: Provider) -> None:
    body = await offline(provider)
    status, doc = await introspect(provider, body["access_token"])
    assert status == 200 and doc["active"] is True
    assert (doc["client_id"], doc["token_type"], doc["iss"], doc["username"]) == (
        "prometheus",
        "Bearer",
        ISSUER,
        EMAIL,
    )
    assert doc["scope"] == "openid email offline_access" and doc["exp"] > doc["iat"]
    _, doc = await introspect(provider, body["refresh_token"], token_type_hint="refresh_token")
    assert doc["active"] is True and doc["token_type"] == "refresh_token"
    assert (await introspect(provider, "unknown"))[1] == {"active": False}
    assert (await introspect(provider, body["access_token"], headers=GRAFANA))[1] == {"active": False}
    provider.clock.advance(86400)
    assert (await introspect(provider, body["access_token"]))[1] == {"active": False}


async def test_introspection_needs_a_confidential_client(provider: Provider) -> None:
    resp = await provider.client.post("/dex/token/introspect", data={"token": "x"})
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    missing = await provider.client.post("/dex/token/introspect", data={}, headers=BASIC)
    assert (await missing.json())["error"] == "invalid_request"


async def test_revoking_a_refresh_token_ends_its_grant(provider: Provider) -> None:
    body = await offline(provider)
    assert await revoke(provider, body["refresh_token"]) == 200
    assert (await refresh(provider, body["refresh_token"])).status == 400
    assert await userinfo_status(provider, body["access_token"]) == 401
    assert await revoke(provider, body["refresh_token"]) == 200  # unknown now: still 200


async def test_revoking_an_access_token(provider: Provider) -> None:
    body = await offline(provider)
    assert await revoke(provider, body["access_token"]) == 200
    assert await userinfo_status(provider, body["access_token"]) == 401
    assert (await refresh(provider, body["refresh_token"])).status == 200


async def test_revoking_another_clients_token_is_refused(provider: Provider) -> None:
    body = await offline(provider)
    assert await revoke(provider, body["refresh_token"], headers=GRAFANA) == 400
    assert (await refresh(provider, body["refresh_token"])).status == 200


async def test_a_replayed_code_revokes_the_tokens_of_the_first_redemption(provider: Provider) -> None:
    code = await provider.code(scope="openid offline_access")
    first = await tokens(provider, code)
    replay = await provider.client.post(
        "/dex/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "code_verifier": "x"},
        headers=BASIC,
    )
    assert (await replay.json())["error"] == "invalid_grant"
    assert await userinfo_status(provider, first["access_token"]) == 401
    assert (await refresh(provider, first["refresh_token"])).status == 400


async def test_the_password_grant_is_off_by_default(provider: Provider) -> None:
    resp = await provider.client.post(
        "/dex/token", data={"grant_type": "password", "username": EMAIL, "password": PASSWORD}, headers=BASIC
    )
    assert (await resp.json())["error"] == "unsupported_grant_type"
    doc = await (await provider.client.get("/dex/.well-known/openid-configuration")).json()
    assert "password" not in doc["grant_types_supported"]


async def test_the_password_grant_when_configured(make: Make) -> None:
    provider = await make(settings(password_connector="local"))
    form = {"grant_type": "password", "username": EMAIL, "password": PASSWORD, "scope": "openid email"}
    ok = await provider.client.post("/dex/token", data=form, headers=BASIC)
    assert ok.status == 200
    assert (await id_claims(provider, (await ok.json())["id_token"]))["email"] == EMAIL
    wrong = await provider.client.post("/dex/token", data={**form, "password": "nope"}, headers=BASIC)
    assert (await wrong.json())["error"] == "invalid_grant"
    doc = await (await provider.client.get("/dex/.well-known/openid-configuration")).json()
    assert "password" in doc["grant_types_supported"]


async def test_implicit_is_off_by_default_and_in_the_fragment_when_on(make: Make) -> None:
    off = await make()
    resp = await off.client.get(
        "/dex/auth",
        params=auth_params(response_type="id_token token", code_challenge="-", code_challenge_method="-"),
        allow_redirects=False,
    )
    assert query_of(resp.headers["Location"])["error"] == "unsupported_response_type"
    on = await make(settings(response_types=("code", "token", "id_token")))
    req = await on.start_login(response_type="id_token token", code_challenge="-", code_challenge_method="-")
    done = await on.submit(req)
    location = done.headers["Location"]
    assert location.startswith(CB + "#")
    fragment = {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}
    assert fragment["token_type"] == "Bearer" and fragment["state"] == "xyz" and fragment["iss"] == ISSUER
    claims = await id_claims(on, fragment["id_token"])
    assert claims["nonce"] == "n-1" and "at_hash" in claims
    assert await userinfo_status(on, fragment["access_token"]) == 200
    doc = await (await on.client.get("/dex/.well-known/openid-configuration")).json()
    assert doc["response_types_supported"] == ["code", "id_token", "id_token token", "token"]


async def test_cross_client_audience_needs_trusted_peers(make: Make) -> None:
    kube = ClientSettings(
        id="kubernetes", secret="k" * 32, redirect_uris=("https://k/cb",), trusted_peers=("prometheus",)
    )
    provider = await make(with_clients(kube))
    code = await provider.code(scope="openid email audience:server:client_id:kubernetes")
    claims = await id_claims(provider, (await tokens(provider, code))["id_token"])
    assert claims["aud"] == ["kubernetes", "prometheus"] and claims["azp"] == "prometheus"
    refused = await provider.client.get(
        "/dex/auth",
        params=auth_params(
            client_id="grafana",
            redirect_uri="https://grafana/cb",
            scope="openid audience:server:client_id:kubernetes",
        ),
        allow_redirects=False,
    )
    assert query_of(refused.headers["Location"])["error"] == "invalid_scope"


async def test_es256_when_configured(make: Make) -> None:
    provider = await make(settings(signing_algorithm="ES256"))
    body = await tokens(provider, await provider.code())
    claims = await id_claims(provider, body["id_token"], algorithms=("ES256",))
    assert claims["iss"] == ISSUER
    doc = await (await provider.client.get("/dex/.well-known/openid-configuration")).json()
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]


async def test_pkce_can_be_waived_only_for_a_marked_confidential_client(make: Make) -> None:
    lax = ClientSettings(
        id="legacy", secret="l" * 32, redirect_uris=("https://legacy/cb",), require_pkce=False
    )
    provider = await make(with_clients(lax))
    for client_id, uri, expected in (("legacy", "https://legacy/cb", 303), ("prometheus", CB, 302)):
        resp = await provider.client.get(
            "/dex/auth",
            params=auth_params(
                client_id=client_id, redirect_uri=uri, code_challenge="-", code_challenge_method="-"
            ),
            allow_redirects=False,
        )
        assert resp.status == expected, client_id


async def test_unknown_client_and_wrong_secret_answer_alike(provider: Provider) -> None:
    from tests.integration.provider.helpers import basic

    answers = []
    for headers in (basic("prometheus", "wrong"), basic("nobody", "wrong")):
        resp = await provider.client.post(
            "/dex/token", data={"grant_type": "refresh_token", "refresh_token": "a.b"}, headers=headers
        )
        answers.append((resp.status, await resp.json(), resp.headers["WWW-Authenticate"]))
    assert answers[0] == answers[1] and answers[0][0] == 401

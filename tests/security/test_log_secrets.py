"""No code, token, password, secret or cookie value reaches the log, at any level: idgate runs with
``IDGATE_LOG_LEVEL=DEBUG``, a whole set of flows runs against it (a proxy login, a wrong password, the
provider's code flow with PKCE, token refresh, userinfo, introspection, revocation, sign-out), and the
whole log is searched for every secret value the test saw or configured."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import EMAIL, FIXTURES, PASSWORD, Running, Upstream, flushed, stop_idgate
from tests.security.conftest import run_idgate
from tests.security.flows import login_page, sign_in

from idgate.net import LocalResolver

pytestmark = pytest.mark.e2e

WRONG_PASSWORD = "Wr0ng-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def debug_idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = run_idgate(tmp_path_factory.mktemp("debug"), upstream, env={"IDGATE_LOG_LEVEL": "DEBUG"})
    yield running
    assert stop_idgate(running) == 0, running.output()


def configured_secrets() -> set[str]:
    values = yaml.safe_load((FIXTURES / "kkp-values.yaml").read_text())
    found = {c["secret"] for c in values["dex"]["clients"]}
    found |= {p["hash"] for p in values["dex"]["staticPasswords"]}
    for d in values["iap"]["deployments"].values():
        found |= {d["client_secret"], d["encryption_key"]}
    found |= {c["config"]["clientSecret"] for c in values["dex"].get("connectors", [])}
    return found


async def provider_code_flow(b: Browser, idgate: Running) -> set[str]:
    """The provider's own code flow for the ``prometheus`` client; every secret it saw."""
    seen: set[str] = set()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = idgate.url("prometheus", "/oauth/callback")
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = urlencode(
        {
            "client_id": "prometheus",
            "redirect_uri": redirect,
            "response_type": "code",
            "scope": "openid email groups offline_access",
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    hops = await b.get(idgate.url("kkp", f"/dex/auth?{query}"))
    form = login_page(hops)
    # a wrong password first, then the right one
    await b.submit(form, {"login": EMAIL, "password": WRONG_PASSWORD})
    done = await b.submit(form, {"login": EMAIL, "password": PASSWORD})
    # the browser follows into the proxy's callback (which refuses the foreign state): take the code
    back = next(h for h in done if h.location and h.location.startswith(redirect))
    code = parse_qs(urlsplit(back.location or "").query)["code"][0]
    seen |= {code, verifier, state, nonce}
    secret = "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX"
    auth = aiohttp.BasicAuth("prometheus", secret)
    token_url = idgate.url("kkp", "/dex/token")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LocalResolver())) as http:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
        async with http.post(token_url, data={**data, "code_verifier": verifier}, auth=auth) as r:
            assert r.status == 200, await r.text()
            tokens = await r.json()
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        async with http.post(token_url, data=refresh, auth=auth) as r:
            assert r.status == 200, await r.text()
            refreshed = await r.json()
        bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
        async with http.get(idgate.url("kkp", "/dex/userinfo"), headers=bearer) as r:
            assert r.status == 200
        intro = {"token": refreshed["access_token"]}
        async with http.post(idgate.url("kkp", "/dex/token/introspect"), data=intro, auth=auth) as r:
            assert r.status == 200
        async with http.post(token_url, data=refresh, auth=auth) as r:  # a spent refresh token
            assert r.status == 400
        # the same code again (a replay): refused, and logged without the code
        async with http.post(token_url, data={**data, "code_verifier": verifier}, auth=auth) as r:
            assert r.status == 400
        revoke = {"token": refreshed["refresh_token"]}
        async with http.post(idgate.url("kkp", "/dex/token/revoke"), data=revoke, auth=auth) as r:
            assert r.status == 200
        async with http.get(
            idgate.url("kkp", "/dex/userinfo"), headers={"Authorization": "Bearer x" * 3}
        ) as r:
            assert r.status == 401
    for doc in (tokens, refreshed):
        seen |= {doc[k] for k in ("access_token", "id_token", "refresh_token") if k in doc}
    return seen


def pieces(value: str) -> set[str]:
    """The value, and for a JWT each of its parts (a log line could hold just the signature)."""
    out = {value}
    if value.count(".") == 2:
        out |= {p for p in value.split(".") if len(p) >= 16}
    return out


async def test_a_debug_log_of_whole_flows_holds_no_secret(debug_idgate: Running) -> None:
    idgate = debug_idgate
    # the right password is the word "password" (the KKP example's hash), which names tables in any
    # log: the wrong password, random, stands for password values
    seen: set[str] = {WRONG_PASSWORD} | configured_secrets()
    async with Browser() as b:
        hops = await sign_in(b, idgate, "grafana", "/d/x")
        assert hops[-1].status == 200
        for hop in hops:
            if hop.location and "code=" in hop.location:
                seen |= set(parse_qs(urlsplit(hop.location).query).get("code", []))
        async with Browser() as fresh:  # no SSO session: the login form again
            seen |= await provider_code_flow(fresh, idgate)
            seen |= {cookie.value for cookie in fresh.jar}
        seen |= {cookie.value for cookie in b.jar}
        await b.get(idgate.url("grafana", "/oauth/sign_out"))
        await b.get(idgate.url("kkp", "/dex/logout"))
    log = flushed(idgate)  # every access line written
    assert "PRIVATE KEY" not in log
    assert "idgate.access" in log and "login succeeded" in log
    leaked = sorted(p for v in seen if len(v) >= 8 for p in pieces(v) if p in log)
    assert leaked == [], f"secret values in the log: {leaked}"


def test_debug_level_keeps_data_logging_libraries_quiet() -> None:
    """At DEBUG, SQL drivers would log every statement's parameters (signing keys, connector data)."""
    import logging

    from idgate.runtime.logs import DATA_LOGGERS, configure_logging

    configure_logging(log_level="DEBUG")
    try:
        assert logging.getLogger().level == logging.DEBUG
        for name in DATA_LOGGERS:
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        configure_logging(log_level="WARNING")

"""Absurd times in tokens (issue 18): ``exp: 1e300`` and other non-NumericDates are refused, in a bearer
JWT (``skip_jwt_bearer_tokens``, an ``extra_jwt_issuers`` issuer) and in the ID token of a sign-in; an
accepted token is remembered at most ``cookie_expire``. Tokens are signed with the test provider's real
keys and checked against its JWKS, over the edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.integration.proxy.edge_world import edge_world, sign_in
from tests.integration.proxy.oidc_double import OIDCDouble
from tests.integration.proxy.test_bearer_tokens import get

from idgate.sessions.base import Session

CURL = "User-Agent: curl/8.5.0\r\nAccept: */*\r\n"
YEAR = 366 * 86400


@pytest.mark.parametrize(
    "exp",
    [1e300, "1e300", float("nan"), float("inf"), True, -1, YEAR + 3600],
    ids=["1e300", "text", "NaN", "Infinity", "true", "negative", "over a year"],
)
async def test_a_bearer_token_with_an_absurd_exp_is_refused(tmp_path: Path, exp: Any) -> None:
    ci = OIDCDouble(client_id="ci-runner")
    await ci.start()
    try:
        async with edge_world(
            tmp_path, skip_jwt_bearer_tokens=True, extra_jwt_issuers=((ci.issuer, "grafana-api"),)
        ) as w:
            for idp, aud in ((ci, "grafana-api"), (w.idp, w.idp.client_id)):
                when = exp if not isinstance(exp, int) or isinstance(exp, bool) or exp < 0 else idp.now + exp
                token = idp.mint(idp.token_claims(aud=aud, exp=when))  # JSON NaN, Infinity, true...
                r = await get(w, "/api/x", CURL + f"Authorization: Bearer {token}\r\n")
                assert r.status == 401 and r.json() == {"error": "invalid_token"}, (idp.issuer, r.status)
            assert w.upstream.requests == []
            # the same issuers' well-formed tokens pass
            good = ci.mint(ci.token_claims(aud="grafana-api"))
            assert (await get(w, "/api/x", CURL + f"Authorization: Bearer {good}\r\n")).status == 200
    finally:
        await ci.close()


async def test_an_accepted_bearer_token_is_remembered_at_most_cookie_expire(tmp_path: Path) -> None:
    async with edge_world(tmp_path, skip_jwt_bearer_tokens=True, cookie_expire=3600.0) as w:
        now = w.clock.now()
        token = w.idp.mint(w.idp.token_claims(exp=int(now) + 300 * 86400))  # 300 days: allowed
        assert (await get(w, "/api/x", CURL + f"Authorization: Bearer {token}\r\n")).status == 200
        assert w.services.bearer is not None
        session = w.services.bearer.check(token, now)
        assert isinstance(session, Session) and session.expires_at == now + 3600  # not "until exp"


async def test_an_id_token_with_exp_1e300_does_not_sign_in(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        w.idp.claims["exp"] = 1e300  # laid over the ID token's claims
        c = await w.client()
        try:
            _, callback = await sign_in(w, c)
        finally:
            await c.close()
        assert callback.status == 403 and b"Sign-in failed" in callback.body
        assert not [v for k, v in callback.headers if k.lower() == "set-cookie" and "app_oauth2_proxy=" in v]

"""The sign-in app's one mapping from failures to pages (:mod:`idgate.proxy.failures`, with aiohttp's own
refusals added by :func:`idgate.proxy.web.page_of`), and its renderer for a failure nobody expected: a 500
page with the request id, the traceback in the log only."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from tests.unit.edge.conftest import proxy_settings

from idgate.clock import FrozenClock
from idgate.oidc.client import IdTokenInvalid, OIDCError, ProviderUnavailable, TokenRequestRefused
from idgate.proxy.failures import (
    Clears,
    LoginStateInvalid,
    MissingCode,
    ProviderRefused,
    SignedOutHereOnly,
    UnknownDeployment,
    page_for,
)
from idgate.proxy.web import build_signin_app, page_of
from idgate.sessions.base import SessionStoreUnavailable


@pytest.mark.parametrize(
    ("exc", "status", "title", "clears"),
    [
        (UnknownDeployment("x"), 404, "Not found", Clears.NOTHING),
        (web.HTTPNotFound(), 404, "Not found", Clears.NOTHING),
        (web.HTTPMethodNotAllowed("PUT", ["GET"]), 405, "Method not allowed", Clears.NOTHING),
        (web.HTTPRequestEntityTooLarge(1, 2), 413, "Request Entity Too Large", Clears.NOTHING),
        (LoginStateInvalid("x"), 403, "Login session expired", Clears.NOTHING),
        (ProviderRefused("x", "access_denied", ""), 403, "Sign-in refused", Clears.LOGIN),
        (MissingCode("x"), 400, "Sign-in failed", Clears.NOTHING),
        (TokenRequestRefused("x"), 403, "Sign-in failed", Clears.LOGIN),
        (IdTokenInvalid("x"), 403, "Sign-in failed", Clears.LOGIN),
        (ProviderUnavailable("x"), 502, "Identity provider unavailable", Clears.LOGIN),
        (OIDCError("x"), 502, "Sign-in failed", Clears.NOTHING),
        (SessionStoreUnavailable("redis: ConnectionError"), 503, "Session store unavailable", Clears.LOGIN),
        (SignedOutHereOnly("x", "/bye"), 503, "Signed out in this browser only", Clears.ALL),
        (ValueError("session too large"), 500, "Something went wrong", Clears.NOTHING),
    ],
)
def test_every_failure_has_one_page(exc: BaseException, status: int, title: str, clears: Clears) -> None:
    page = page_of(exc)
    assert (page.status, page.title, page.clears) == (status, title, clears)
    assert page.unexpected is (status == 500)
    if not isinstance(exc, web.HTTPException):  # the core's table alone, without the web layer
        assert page_for(exc) == page


async def test_an_unexpected_failure_is_a_500_page_with_the_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = proxy_settings("http://127.0.0.1:9", issuer_url="http://127.0.0.1:9/idp")

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("detail-that-must-not-show")

    async with aiohttp.ClientSession() as http:
        app = build_signin_app([proxy], FrozenClock(), http)
        app.router.add_get("/oauth/broken", broken)  # a handler with a bug, as any could have
        async with TestClient(TestServer(app)) as client:
            with caplog.at_level(logging.ERROR, logger="idgate.proxy"):
                resp = await client.get(
                    "/oauth/broken", headers={"X-Idgate-Deployment": "app", "X-Request-Id": "rid-500"}
                )
            page = await resp.text()
    assert resp.status == 500 and resp.content_type == "text/html"
    assert "<h1>Something went wrong</h1>" in page and "Request id <code>rid-500</code>" in page
    assert resp.headers["X-Request-Id"] == "rid-500"
    assert "detail-that-must-not-show" not in page and "RuntimeError" not in page
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.levelno == logging.ERROR and getattr(record, "request_id", "") == "rid-500"

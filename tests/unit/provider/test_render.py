"""The one error renderer: page, redirect or JSON, decided in one function."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest

from idgate.oauth2.errors import (
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    OAuthError,
)
from idgate.provider.answers import Surface
from idgate.provider.web.render import render_error

ISSUER = "https://kkp.example.com/dex"


def test_unverified_browser_errors_are_pages() -> None:
    resp = render_error(InvalidRequest("unknown client_id"), Surface.BROWSER, issuer=ISSUER)
    assert resp.status == 400 and resp.content_type == "text/html"
    assert "Location" not in resp.headers
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.text is not None and "unknown client_id" in resp.text


def test_verified_browser_errors_redirect_with_error_state_and_iss() -> None:
    err = InvalidScope("the openid scope is required").redirecting("https://a/cb?x=1", "s t")
    resp = render_error(err, Surface.BROWSER, issuer=ISSUER)
    assert resp.status == 302
    location = resp.headers["Location"]
    assert location.startswith("https://a/cb?x=1&")
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert params == {
        "x": "1",
        "error": "invalid_scope",
        "error_description": "the openid scope is required",
        "state": "s t",
        "iss": ISSUER,
    }


def test_redirect_without_state_has_no_state_parameter() -> None:
    err = InvalidRequest("x").redirecting("https://a/cb", "")
    location = render_error(err, Surface.BROWSER, issuer=ISSUER).headers["Location"]
    assert "state=" not in location


def test_a_redirect_target_is_ignored_outside_the_browser() -> None:
    err = InvalidGrant("expired").redirecting("https://a/cb", "s")
    resp = render_error(err, Surface.TOKEN, issuer=ISSUER)
    assert resp.status == 400 and resp.content_type == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("err", "status", "challenge"),
    [
        (InvalidClient("client authentication failed"), 401, "Basic"),
        (InvalidGrant("x"), 400, None),
        (InvalidRequest("x"), 400, None),
    ],
)
def test_token_errors_are_json(err: OAuthError, status: int, challenge: str | None) -> None:
    resp = render_error(err, Surface.TOKEN, issuer=ISSUER)
    assert resp.status == status
    assert resp.text is not None and f'"error":"{err.code}"' in resp.text
    assert resp.headers.get("WWW-Authenticate", "").split(" ")[0] == (challenge or "")


def test_bearer_errors_carry_the_bearer_challenge() -> None:
    resp = render_error(InvalidToken('bad "token"'), Surface.BEARER, issuer=ISSUER)
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("surface", list(Surface))
def test_unexpected_exceptions_are_500_with_a_request_id_and_no_detail(
    surface: Surface, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="idgate.provider"):
        resp = render_error(RuntimeError("db password=hunter2"), surface, issuer=ISSUER)
    assert resp.status == 500
    assert resp.text is not None and "hunter2" not in resp.text and "request id" in resp.text
    (record,) = caplog.records
    assert getattr(record, "request_id", "") in resp.text


def test_a_storage_conflict_is_temporarily_unavailable_not_a_500() -> None:
    from idgate.errors import Conflict
    from idgate.provider.answers import Surface
    from idgate.provider.web.render import render_error

    resp = render_error(Conflict("too many"), Surface.TOKEN, issuer="https://i")
    assert resp.status == 503 and resp.headers["Cache-Control"] == "no-store"
    assert b"temporarily_unavailable" in (resp.body or b"")  # type: ignore[operator]


def test_an_error_page_carries_the_edges_request_id_and_a_known_way_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    err = InvalidRequest("redirect_uri is not registered").linking_back(
        "Grafana <x>", "https://grafana.example/"
    )
    resp = render_error(err, Surface.BROWSER, issuer=ISSUER, request_id="edge-rid")
    assert resp.status == 400 and resp.text is not None
    assert 'href="https://grafana.example/">Back to Grafana &lt;x&gt;</a>' in resp.text
    assert "Error <code>invalid_request</code> · Request id <code>edge-rid</code>" in resp.text
    with caplog.at_level(logging.ERROR, logger="idgate.provider"):
        crash = render_error(RuntimeError("boom"), Surface.BROWSER, issuer=ISSUER, request_id="edge-rid")
    assert crash.status == 500 and getattr(caplog.records[0], "request_id", "") == "edge-rid"

from __future__ import annotations

import pytest

from idgate.oauth2.errors import InvalidRequest
from idgate.oauth2.requests import (
    parse_authorization_request,
    parse_bearer,
    parse_token_request,
)


def test_authorization_request_is_parsed_and_scopes_deduplicated() -> None:
    req = parse_authorization_request(
        {
            "client_id": ["c"],
            "redirect_uri": ["https://a/cb"],
            "response_type": ["code"],
            "scope": ["openid  email openid"],
            "state": ["s"],
            "nonce": ["n"],
        }
    )
    assert req.scopes == ("openid", "email")
    assert (req.client_id, req.state, req.nonce, req.problem) == ("c", "s", "n", "")


def test_repeated_client_id_raises_at_once() -> None:
    with pytest.raises(InvalidRequest, match="repeated"):
        parse_authorization_request({"client_id": ["a", "b"]})


def test_repeated_state_is_kept_as_a_problem_to_redirect_later() -> None:
    req = parse_authorization_request({"client_id": ["c"], "state": ["a", "b"]})
    assert "state" in req.problem


def test_overlong_values_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="too long"):
        parse_authorization_request({"redirect_uri": ["x" * 5000]})


def test_token_request_needs_grant_type() -> None:
    with pytest.raises(InvalidRequest):
        parse_token_request({"code": ["x"]})
    assert parse_token_request({"grant_type": ["authorization_code"]}).code == ""


def test_bearer_header() -> None:
    assert parse_bearer("Bearer abc") == "abc"
    assert parse_bearer("bearer  abc ") == "abc"
    assert parse_bearer("Basic abc") == ""
    assert parse_bearer(None) == ""

"""The token endpoint's one answer (:mod:`idgate.provider.token_endpoint`), without a server, and the edge's
lane (:mod:`idgate.provider.token_lane`) writing that same answer out as bytes."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.unit.provider.support import SECRET, SETTINGS

from idgate.clock import FrozenClock
from idgate.oauth2.errors import InvalidGrant
from idgate.provider.core import Provider, with_static
from idgate.provider.token_endpoint import TokenAnswer, TokenEndpoint
from idgate.provider.token_lane import TokenLane, form_params
from idgate.storage import Storage, open_storage

BASIC = "Basic " + base64.b64encode(f"prometheus:{SECRET}".encode()).decode()


@pytest.fixture
async def core() -> AsyncIterator[Provider]:
    storage: Storage = await open_storage("sqlite:///:memory:")
    yield Provider(SETTINGS, with_static(storage, SETTINGS), FrozenClock(), {})
    await storage.close()


class Issuing:
    """Stands in for :class:`~idgate.provider.tokens.Tokens`: answers every grant with ``doc``."""

    def __init__(self, doc: dict[str, Any] | None = None, error: Exception | None = None) -> None:
        self.doc, self.error = doc or {}, error

    async def token(self, authorization: str | None, params: dict[str, list[str]]) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return self.doc


async def test_tokens_are_200_json_with_nothing_but_the_document() -> None:
    doc = {"access_token": "a", "token_type": "Bearer", "expires_in": 60, "id_token": "x.y.z"}
    found = await TokenEndpoint(Issuing(doc)).answer(BASIC, {})  # type: ignore[arg-type]
    assert found == TokenAnswer(200, (), json.dumps(doc, separators=(",", ":")).encode())


async def test_an_unknown_client_is_401_invalid_client_with_a_basic_challenge(core: Provider) -> None:
    unknown = "Basic " + base64.b64encode(b"nobody:x").decode()
    found = await core.token_endpoint.answer(unknown, {"grant_type": ["authorization_code"]})
    assert found.status == 401
    assert found.headers == (("WWW-Authenticate", 'Basic realm="idgate"'),)
    assert json.loads(found.body)["error"] == "invalid_client"


async def test_an_unsupported_grant_type_is_400(core: Provider) -> None:
    found = await core.token_endpoint.answer(BASIC, {"grant_type": ["client_credentials"]})
    assert (found.status, found.headers) == (400, ())
    assert json.loads(found.body)["error"] == "unsupported_grant_type"


async def test_an_unexpected_error_is_500_under_the_request_id_with_no_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = TokenEndpoint(Issuing(error=RuntimeError("secret-detail")))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="idgate.provider"):
        found = await endpoint.answer(BASIC, {}, "edge-rid")
    doc = json.loads(found.body)
    assert found.status == 500 and doc["error"] == "server_error"
    assert "edge-rid" in doc["error_description"] and b"secret-detail" not in found.body
    assert [getattr(r, "request_id", "") for r in caplog.records] == ["edge-rid"]


@pytest.mark.parametrize(
    ("authorization", "body"),
    [
        (BASIC.encode(), b"grant_type=authorization_code&code=nope&redirect_uri=x"),
        (b"Basic " + base64.b64encode(b"nobody:x"), b"grant_type=authorization_code"),
        (BASIC.encode(), b"grant_type=client_credentials"),
        (b"", b"grant_type=authorization_code&client_id=prometheus&client_id=grafana"),
    ],
)
async def test_the_lane_writes_out_the_endpoints_answer(
    core: Provider, authorization: bytes, body: bytes
) -> None:
    lane = TokenLane(core, SETTINGS.path)
    status, headers, written = await lane.answer(authorization, body, "rid")
    params: dict[str, list[str]] = {}
    for pair in body.decode().split("&"):
        key, _, value = pair.partition("=")
        params.setdefault(key, []).append(value)
    found = await core.token_endpoint.answer(authorization.decode() or None, params, "rid")
    assert (status, written) == (found.status, found.body)
    extra = [(k.encode(), v.encode()) for k, v in found.headers]
    assert headers == [(b"Pragma", b"no-cache"), *extra]  # Cache-Control: no-store is the edge's own


async def test_a_body_that_is_not_utf8_is_invalid_request_on_the_lane(core: Provider) -> None:
    status, headers, written = await TokenLane(core, SETTINGS.path).answer(BASIC.encode(), b"\xff", "rid")
    assert (status, headers) == (400, [(b"Pragma", b"no-cache")])
    assert json.loads(written)["error"] == "invalid_request"


async def test_a_grant_the_core_refuses_is_refused_alike_on_both_doors(core: Provider) -> None:
    core.tokens.token = Issuing(error=InvalidGrant("code expired")).token  # type: ignore[method-assign]
    found = await core.token_endpoint.answer(BASIC, {})
    status, _, written = await TokenLane(core, SETTINGS.path).answer(BASIC.encode(), b"", "rid")
    assert (status, written) == (found.status, found.body) and status == 400
    assert json.loads(written) == {"error": "invalid_grant", "error_description": "code expired"}


_FORM_TEXT = st.text(alphabet=st.sampled_from("ab=&+%2F41é _-.~"), max_size=40)


@given(_FORM_TEXT)
def test_the_lane_reads_a_form_as_the_standard_library_does(text: str) -> None:
    """Whatever the body (escapes, ``+``, empty fields, names without ``=``, repeated names)."""
    expected: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        expected.setdefault(name, []).append(value)
    assert form_params(text.encode()) == expected

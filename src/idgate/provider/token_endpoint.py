"""``POST {issuer}/token`` and ``POST {issuer}/device/token`` (RFC 6749 §3.2 and §5, RFC 8628 §3.4),
answered in one place for both front doors.

The provider's web app (:func:`idgate.provider.web.routes.token`) and the edge's lane
(:class:`~.token_lane.TokenLane`, the busy path: every code exchange and every refresh) each read the
request their own way -- the ``Authorization`` header and the form's fields -- and call
:meth:`TokenEndpoint.answer`, which runs the grant (:meth:`.tokens.Tokens.token`) and answers success and
every error alike (:mod:`.answers`): a :class:`TokenAnswer` (status, headers, JSON body) that each front
door only writes out in its own shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from idgate.oauth2.requests import Params
from idgate.provider.answers import Surface, as_oauth_error, json_error
from idgate.provider.tokens import Tokens

__all__ = ["TokenAnswer", "TokenEndpoint", "refused"]


@dataclass(slots=True)  # not frozen: built on every token request, and a frozen one costs 4x to build
class TokenAnswer:
    """The token endpoint's answer: ``body`` is JSON; ``headers`` are those besides ``Content-Type:
    application/json`` and :data:`~.answers.NO_STORE`, which every answer has (``WWW-Authenticate`` for
    ``invalid_client``)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _json(doc: Mapping[str, object]) -> bytes:
    """Compact JSON, in the document's order (``msgspec``: ~1.5 µs for an answer with tokens, ``json``
    ~14)."""
    return msgspec.json.encode(doc)


def refused(err: BaseException, request_id: str = "") -> TokenAnswer:
    """The answer to a request that failed with ``err`` (anything unexpected is logged under
    ``request_id``, made up when empty, and answered ``server_error``)."""
    status, headers, doc = json_error(as_oauth_error(err, request_id), Surface.TOKEN)
    return TokenAnswer(status, tuple(headers.items()), _json(doc))


class TokenEndpoint:
    """The token endpoint of one provider."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    async def answer(self, authorization: str | None, params: Params, request_id: str = "") -> TokenAnswer:
        """Authenticate the client, run the grant, issue tokens; every error is answered, not raised."""
        try:
            doc = await self.tokens.token(authorization, params)
        except Exception as err:
            return refused(err, request_id)
        return TokenAnswer(200, (), _json(doc))

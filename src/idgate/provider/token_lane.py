"""``POST {issuer}/token`` answered by the edge itself, without the provider's web app.

The token endpoint is the provider's busiest back channel: every login's code exchange and every
refresh. Forwarding it to the aiohttp app costs a unix-socket round trip and aiohttp's per-request
objects, ~1 ms of CPU on the machines ``bench/`` runs on, as much as the RS256 signature itself. The edge
already parsed the request; it hands the few things the endpoint reads -- ``Authorization`` and the form
body -- to :meth:`TokenLane.answer`, which reads the form and calls the same
:meth:`TokenEndpoint.answer <idgate.provider.token_endpoint.TokenEndpoint.answer>` as the web app's
handler, then writes its answer out as the edge's bytes.

Only what is unambiguous takes this lane (:meth:`TokenLane.takes`): ``POST``, ``Content-Type:
application/x-www-form-urlencoded``, a ``Content-Length`` of at most :data:`MAX_BODY` (no chunked body).
Every other request to these paths goes to the web app as before, so odd requests keep one behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

from idgate.oauth2.errors import InvalidRequest
from idgate.oauth2.requests import Params
from idgate.provider.answers import NO_STORE
from idgate.provider.core import Provider
from idgate.provider.token_endpoint import TokenAnswer, refused

MAX_BODY = 16 * 1024  # a token request is a few hundred bytes; larger ones take the web app's path
FORM = b"application/x-www-form-urlencoded"
JSON = b"application/json"
#: Besides ``Cache-Control: no-store``, which the edge puts on every answer it makes itself.
_NO_STORE = [(k.encode(), v.encode()) for k, v in NO_STORE.items() if k != "Cache-Control"]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def form_params(body: bytes) -> Params:
    """The fields of a form body, every value of a repeated name kept (as the web app reads them).

    ``urllib.parse.parse_qsl(keep_blank_values=True)``'s reading, with its decoding skipped for the
    fields that have nothing to decode (no ``%`` or ``+``): a code exchange's body in ~5 µs instead of 17."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8") from None
    out: dict[str, list[str]] = {}
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in field or "+" in field:
            name = unquote(name.replace("+", " "))
            value = unquote(value.replace("+", " "))
        out.setdefault(name, []).append(value)
    return out


class TokenLane:
    """The token endpoints of one provider, for the edge (:mod:`idgate.edge.dispatch`)."""

    def __init__(self, provider: Provider, issuer_path: str) -> None:
        self.endpoint = provider.token_endpoint
        base = issuer_path.rstrip("/").encode()
        self.paths = frozenset({base + b"/token", base + b"/device/token"})

    def takes(
        self, method: bytes, path: bytes, headers: Sequence[tuple[bytes, bytes]], length: int | None
    ) -> bool:
        """Whether the edge answers this request itself (else it goes to the web app)."""
        if method != b"POST" or path not in self.paths or length is None or length > MAX_BODY:
            return False
        types = [v for n, v in headers if n.lower() == b"content-type"]
        return len(types) == 1 and types[0].split(b";", 1)[0].strip().lower() == FORM

    async def answer(self, authorization: bytes, body: bytes, request_id: str) -> Answer:
        """Status, headers (``Pragma: no-cache`` and, for ``invalid_client``, ``WWW-Authenticate``) and
        the JSON body."""
        found: TokenAnswer
        try:
            params = form_params(body)
        except InvalidRequest as err:
            found = refused(err, request_id)
        else:
            auth = authorization.decode("utf-8", "surrogateescape") if authorization else None  # as aiohttp
            found = await self.endpoint.answer(auth, params, request_id)
        if not found.headers:
            return found.status, list(_NO_STORE), found.body
        headers = _NO_STORE + [(k.encode(), v.encode("latin-1")) for k, v in found.headers]
        return found.status, headers, found.body

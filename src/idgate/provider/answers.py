"""What the provider answers, without a web framework: who reads an endpoint's answer (:class:`Surface`),
what any exception is answered as (:func:`as_oauth_error`), and the JSON answer of an error at a
back-channel endpoint (:func:`json_error`; every back-channel answer is :data:`NO_STORE`).

The web layer's one renderer (:func:`idgate.provider.web.render.render_error`) and the token endpoint
(:mod:`.token_endpoint`, both front doors) answer with these, so an error reads the same whichever way
it came.
"""

from __future__ import annotations

import logging
import secrets
from enum import Enum

from idgate.errors import Conflict
from idgate.oauth2.errors import InvalidClient, OAuthError, ServerError, TemporarilyUnavailable

log = logging.getLogger("idgate.provider")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Surface(Enum):
    """Who reads the answer of an endpoint."""

    BROWSER = "browser"
    TOKEN = "token"
    BEARER = "bearer"


def _quoted(value: str) -> str:
    return value.replace("\\", "").replace('"', "'")


def as_oauth_error(err: BaseException, request_id: str = "") -> OAuthError:
    """``err`` as the OAuth error it is answered with: a lost storage race is ``temporarily_unavailable``;
    anything unexpected is logged with its traceback under ``request_id`` (made up when empty) and is a
    ``server_error`` that says nothing more."""
    if isinstance(err, Conflict):
        return TemporarilyUnavailable("too many concurrent requests; try again")
    if isinstance(err, OAuthError):
        return err
    request_id = request_id or secrets.token_hex(8)
    log.error("unexpected error", exc_info=err, extra={"request_id": request_id})
    return ServerError(f"Something went wrong (request id {request_id}).")


def json_error(err: OAuthError, surface: Surface) -> tuple[int, dict[str, str], dict[str, str]]:
    """The JSON answer of ``err`` at a back-channel endpoint: status, extra headers (besides
    ``no-store``), and the ``{"error", "error_description"}`` document."""
    doc = {"error": err.code}
    if err.description:
        doc["error_description"] = err.description
    headers: dict[str, str] = {}
    if surface is Surface.TOKEN and isinstance(err, InvalidClient):
        headers["WWW-Authenticate"] = 'Basic realm="idgate"'
    elif surface is Surface.BEARER and err.status == 401:
        headers["WWW-Authenticate"] = (
            f'Bearer error="{err.code}", error_description="{_quoted(err.description)}"'
        )
    return err.status, headers, doc

"""What the edge answers for a decision: one function, :func:`verdict`, from (decision, lane) to outcome.

The lane is who is asking, which decides the form of the answer; the decision (:mod:`idgate.edge.gate`)
is the same on every lane. A WebSocket handshake is on the proxy lane: its origin check is part of the
decision (``websocket_origin_not_allowed``), so it gets the proxy lane's answers.

================  ==============================  ==========================  ==========================
decision          ``PROXY``: browser / API client  ``BEARER`` (JWT presented)  ``AUTH`` (``/oauth/auth``)
================  ==============================  ==========================  ==========================
allowed           forward (:data:`FORWARD`)        forward                     202 + ``X-Auth-Request-*``
skip_auth         forward (no identity)            forward (no identity)       202, no identity
unauthenticated   302 ``/oauth/start?rd=<url>``;   401 ``invalid_token`` +     401 ``Unauthorized``
                  an API client: 401 JSON          ``WWW-Authenticate``
refused           403 page: who, the reasons       403 page                    403 ``Forbidden``
================  ==============================  ==========================  ==========================

An API client is one that asks for JSON (``Accept``, ``X-Requested-With``) or calls an ``api_routes``
path (:meth:`~idgate.edge.gate.Gate.is_api`). ``set_cookies`` (a refreshed session, or the cleared
cookies of one that ended) go out with the 302 and the 401 of the proxy lane, and with every answer of
``/oauth/auth``, there each also as ``X-Idgate-Set-Cookie-<n>`` for nginx to copy to the browser. A
403 page carries no ``Set-Cookie``; the upstream's response carries them when a request is forwarded.
``/oauth/auth`` allows a request only with a session: a policy that lets a request through without one
(a CORS preflight) is answered 403 there.

Nothing here does I/O; the caller writes the bytes (and forwards on :data:`FORWARD`).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

from idgate.edge.http import Request
from idgate.edge.responses import (
    auth_response,
    forbidden_response,
    invalid_token_response,
    login_redirect,
    unauthorized_json,
)
from idgate.policy.decision import Decision, Reason

if TYPE_CHECKING:
    from idgate.edge.gate import Gate, Verified


class Lane(enum.Enum):
    """Who is asking, which decides the form of the edge's answer."""

    PROXY = "proxy"  # a request for the upstream, with a session cookie or none (a browser, an API client)
    BEARER = "bearer"  # a request for the upstream carrying ``Authorization: Bearer <JWT>``
    AUTH = "auth"  # ``/oauth/auth``: a proxy in front asks whether to let a request through


# Read per request: bound once (an enum member read as ``Lane.X`` costs a metaclass hook on 3.11).
PROXY_LANE: Final = Lane.PROXY
BEARER_LANE: Final = Lane.BEARER
AUTH_LANE: Final = Lane.AUTH
_SKIP_AUTH: Final = Reason.SKIP_AUTH

#: The outcome "forward the request to the upstream" (status 0: nothing is answered here).
FORWARD: Final = (0, b"")


def verdict(
    lane: Lane,
    decision: Decision,
    req: Request,
    gate: Gate,
    verified: Verified | None,
    *,
    close: bool,
    set_cookies: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, bytes]:
    """The outcome of ``decision`` on ``lane``: the status and the whole response, or :data:`FORWARD`.

    ``verified`` is the session the decision was about (its identity headers go in ``/oauth/auth``'s
    202); ``close`` whether the connection closes after the answer.
    """
    if lane is AUTH_LANE:
        keep_10 = req.version == "1.0" and not close
        if _SKIP_AUTH in decision.reasons:  # no identity for a skipped path, as on the proxy lane
            return 202, auth_response(202, None, set_cookies, close, keep_10)
        if decision.allowed and verified is not None:
            if set_cookies:
                return 202, auth_response(202, verified.auth_headers, set_cookies, close, keep_10)
            return 202, verified.auth_accepted(close, keep_10)
        status = 401 if decision.unauthenticated else 403
        return status, auth_response(status, None, set_cookies, close, keep_10)
    if decision.allowed:
        return FORWARD
    if decision.unauthenticated:
        if lane is BEARER_LANE:
            return 401, invalid_token_response(req, close)
        if gate.is_api(req):
            return 401, unauthorized_json(req, close, set_cookies, req.request_id())
        return 302, login_redirect(req, close, set_cookies)
    rid = req.request_id().decode("ascii")
    who = verified.session.email if verified is not None else ""
    return 403, forbidden_response(req, decision, close, rid, gate.settings, who=who)

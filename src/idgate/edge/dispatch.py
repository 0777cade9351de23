"""Routing one request whose head is complete: answer it here or forward it.

Called by :class:`~idgate.edge.connection.EdgeConnection` once per request. Each branch ends in exactly
one of ``conn.reply`` (an answer built here), ``conn.error`` (an error page) or ``conn.forward_to``
(a :class:`~idgate.edge.forward.Forward` to an upstream or web app), and leaves the deployment and
the decision's reason on the connection for the access log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from idgate.edge.hotpath import (
    HTML,
    auth_response,
    forbidden_response,
    login_response,
    split_cookies,
)
from idgate.edge.http import HeadError, Request, simple_response
from idgate.edge.pages import page
from idgate.edge.pool import Target
from idgate.edge.routes import Deployment, Kind
from idgate.policy.decision import SKIP_AUTH
from idgate.proxy.headers import DEPLOYMENT_HEADER

if TYPE_CHECKING:
    from idgate.edge.connection import EdgeConnection

_DEPLOYMENT_B = DEPLOYMENT_HEADER.encode()
_TEXT = b"text/plain; charset=utf-8"


def dispatch(conn: EdgeConnection, req: Request) -> None:
    """Check the framing, route by Host and path, and serve ``req`` on ``conn``."""
    state = conn.state
    try:
        req.check_framing(state.limits.max_body_bytes)
    except HeadError as exc:
        conn.error(exc.status, "bad_framing", close=True)
        return
    close = not req.keep_alive or (req.has_body and not req.complete) or state.closing
    table = state.table
    kind, dep = table.match(req.host, req.path())
    if kind is Kind.HOT:
        assert dep is not None
        hot_path(conn, req, dep, close)
    elif kind is Kind.PROVIDER:
        to_webapp(conn, req, table.provider, [], "")
    elif kind is Kind.SIGNIN:
        assert dep is not None
        to_webapp(conn, req, table.signin, [(_DEPLOYMENT_B, dep.gate.name_b)], dep.name)
    elif kind is Kind.AUTH:
        assert dep is not None
        conn.deployment = dep.name
        gate = dep.gate
        sealed, _ = split_cookies(req.cookies, gate.cookie_b, gate.csrf_b)
        verified = gate.open(sealed, state.clock.now())
        data, decision = auth_response(req, gate, verified, close)
        conn.reason = decision.reason
        status = 202 if decision.allowed else 401 if decision.unauthenticated else 403
        conn.reply(status, data, close)
    elif kind is Kind.HEALTHY:
        conn.deployment = dep.name if dep else ""
        conn.reply(200, _simple(req, 200, b"OK", close, _TEXT), close)
    else:
        conn.reason = "unknown_host"
        conn.reply(404, _simple(req, 404, page(404), close, HTML), close)


def hot_path(conn: EdgeConnection, req: Request, dep: Deployment, close: bool) -> None:
    """Session -> policy -> forward with identity headers, or a login redirect / 401 / 403."""
    gate = dep.gate
    conn.deployment = dep.name
    if req.cookies:
        sealed, cookie = split_cookies(req.cookies, gate.cookie_b, gate.csrf_b)
        verified = gate.open(sealed, conn.state.clock.now())
    else:
        cookie, verified = None, None
    decision = gate.decide(req, verified)
    conn.reason = decision.reason
    if decision.allowed:
        # skip_auth passes no identity, as OAuth2-Proxy does, even when a session exists.
        skipped = SKIP_AUTH in decision.reasons
        extra = verified.upstream_headers if verified is not None and not skipped else []
        conn.forward_to(req, dep.upstream, extra, cookie, req.wants_upgrade)
    elif decision.unauthenticated:
        data = login_response(req, close)
        conn.reply(401 if data.startswith(b"HTTP/1.1 401") else 302, data, close)
    else:
        conn.reply(403, forbidden_response(req, decision, close), close)


def to_webapp(
    conn: EdgeConnection,
    req: Request,
    target: Target | None,
    extra: list[tuple[bytes, bytes]],
    name: str,
) -> None:
    """Forward to one of idgate's web apps (cookies untouched: the sign-in app needs them)."""
    conn.deployment = name
    if target is None:
        conn.error(503, "webapp_unavailable", close=False)
        return
    cookie = b"; ".join(req.cookies) if req.cookies else None
    conn.forward_to(req, target, extra, cookie, upgrade=False)


def _simple(req: Request, status: int, body: bytes, close: bool, ctype: bytes) -> bytes:
    return simple_response(
        status,
        body,
        content_type=ctype,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )

"""Routing one request whose head is complete: answer it here or forward it.

Called by :class:`~idgate.edge.connection.EdgeConnection` once per request. Each branch ends in exactly
one of ``conn.reply`` (an answer built here), ``conn.error`` (an error page) or ``conn.forward_to``
(a :class:`~idgate.edge.forward.Forward` to an upstream or web app), and leaves on the connection what
its access line says (:mod:`idgate.edge.access_log`): the deployment, and where a gate decided, the
session's email, the decision and its reasons.

A deployment's requests (the proxy lane, and ``/oauth/auth``) take one path: :func:`admit` finds who is
asking -- a bearer JWT, else the session cookie -- through the gate (:mod:`idgate.edge.gate`), then
:func:`answer` has the gate decide, counts the decision and leaves it for the access line, and
forwards or replies with the verdict for the request's lane (:mod:`idgate.edge.verdict`). The cookie
store and memoised sessions are decided synchronously. Only when the gate answers ``PENDING`` (a Redis
lookup, a refresh that is due, a bearer token whose issuer's keys must be fetched) does the request take
an async step (``conn.defer``), and then continues with :func:`answer` exactly as the synchronous path.

Bearer JWTs (``skip_jwt_bearer_tokens``): a request whose ``Authorization`` is ``Bearer <JWT>`` is judged
by that token alone. A verified token is the session (the cookie is not read); a refused one gives
401 ``invalid_token`` wherever authentication is needed (skip-auth paths and preflights still pass),
never the cookie's session and never a login redirect: a client that presents a credential learns that
it failed. (OAuth2-Proxy falls back to the cookie unless ``bearer_token_login_fallback`` is false; idgate
always behaves as with ``false``, answering 401 where OAuth2-Proxy answers 403.) Any other
``Authorization`` value is left to the upstream and the cookie decides, as in OAuth2-Proxy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from idgate.edge.gate import Verified
from idgate.edge.http import HeadError, Request, header_lines, simple_response
from idgate.edge.pages import page
from idgate.edge.pool import Target
from idgate.edge.responses import HTML
from idgate.edge.routes import Deployment, Kind, LocalEndpoint
from idgate.edge.verdict import AUTH_LANE, BEARER_LANE, PROXY_LANE, Lane, verdict
from idgate.policy.decision import Decision, Reason
from idgate.proxy.bearer import bearer_token
from idgate.proxy.headers import DEPLOYMENT_HEADER
from idgate.sessions.base import Pending

if TYPE_CHECKING:
    from idgate.edge.connection import EdgeConnection

_DEPLOYMENT_B = DEPLOYMENT_HEADER.encode()
#: What the sign-in app reads as the page to come back to when ``rd`` is absent (as OAuth2-Proxy does). A
#: client's own is removed with every ``X-Auth-Request-*``; the edge sets it from a trusted proxy's
#: ``X-Forwarded-Uri``, and the app validates it like any ``rd``.
_REDIRECT_B = b"X-Auth-Request-Redirect"
_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_SKIP_AUTH = Reason.SKIP_AUTH  # read per request: bound once (see idgate.policy.decision)


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
        admit(conn, req, dep, close, PROXY_LANE)
    elif kind is Kind.PROVIDER:
        local = table.local
        if local is not None and local.takes(req.method, req.path(), req.headers, req.content_length):
            conn.collect(req, lambda: conn.defer(req, answer_locally(conn, req, local)))
        else:
            to_webapp(conn, req, table.provider, [], "", trusted=_default_trust(conn))
    elif kind is Kind.SIGNIN:
        assert dep is not None
        trusted = dep.trust.trusts(conn.peer)
        extra = [(_DEPLOYMENT_B, dep.gate.name_b)]
        if trusted and req.xfu:  # the page a proxy in front was asked for (nginx's 401 -> sign-in)
            extra.append((_REDIRECT_B, req.xfu))
        to_webapp(conn, req, table.signin, extra, dep.name, trusted=trusted)
    elif kind is Kind.AUTH:
        assert dep is not None
        admit(conn, req, dep, close, AUTH_LANE)
    elif kind is Kind.JWKS:
        assert dep is not None
        conn.deployment = dep.name
        conn.reply(200, _simple(req, 200, dep.jwks, close, _JSON), close)
    elif kind is Kind.HEALTHY:
        conn.deployment = dep.name if dep else ""
        conn.reply(200, _simple(req, 200, b"OK", close, _TEXT), close)
    else:
        conn.reason = "unknown_host"
        body = page(404, request_id=req.request_id().decode("ascii"))
        conn.reply(404, _simple(req, 404, body, close, HTML), close)


_REASONS: dict[frozenset[str], str] = {}
_REASONS_MAX = 1024


def reason_of(decision: Decision) -> str:
    """``decision.reason`` (its sorted, joined reasons), remembered per set of reasons."""
    reasons = decision.reasons
    found = _REASONS.get(reasons)
    if found is None:
        found = decision.reason
        if len(_REASONS) < _REASONS_MAX:
            _REASONS[reasons] = found
    return found


def _default_trust(conn: EdgeConnection) -> bool:
    from idgate.edge.trust import DEFAULT_TRUST

    return DEFAULT_TRUST.trusts(conn.peer)


def _proto(req: Request, trusted: bool, scheme: bytes) -> str:
    """How the client reached us: a trusted proxy's ``X-Forwarded-Proto``, else the listener's scheme."""
    if trusted and req.xfp in (b"http", b"https"):
        return "https" if req.xfp == b"https" else "http"
    return "https" if scheme == b"https" else "http"


def admit(conn: EdgeConnection, req: Request, dep: Deployment, close: bool, lane: Lane) -> None:
    """Find who is asking ``dep`` on ``lane`` (``PROXY`` or ``AUTH``), then :func:`answer`.

    A bearer JWT, when the deployment takes them, is the session (or refused) and turns the proxy lane
    into the ``BEARER`` lane; otherwise the session cookie is. When the gate cannot tell synchronously,
    the rest runs after the async step.
    """
    gate = dep.gate
    conn.deployment = dep.name
    if gate.bearer is not None and req.authorization:
        token = bearer_token(req.authorization)
        if token is not None:
            if lane is PROXY_LANE:
                lane = BEARER_LANE
                cookie = gate.split(req.cookies)[1] if req.cookies else None
            else:
                cookie = None
            found = gate.open_bearer(token, conn.state.clock.now())
            if isinstance(found, Pending):
                conn.defer(req, _after_bearer(conn, req, dep, lane, close=close, token=token, cookie=cookie))
                return
            answer(conn, req, dep, lane, found, close=close, cookie=cookie)
            return
    if req.cookies:
        sealed, cookie = gate.split(req.cookies)
        now = conn.state.clock.now()
        verified = gate.open(sealed, now)
        if isinstance(verified, Pending):
            assert sealed is not None
            later = _after_lookup(conn, req, dep, lane, close=close, sealed=sealed, cookie=cookie, now=now)
            conn.defer(req, later)
            return
    else:
        cookie, verified = None, None
    answer(conn, req, dep, lane, verified, close=close, cookie=cookie)


async def _after_bearer(
    conn: EdgeConnection,
    req: Request,
    dep: Deployment,
    lane: Lane,
    *,
    close: bool,
    token: str,
    cookie: bytes | None,
) -> None:
    verified = await dep.gate.resolve_bearer(token, conn.state.clock.now())
    if conn.still_serving(req):
        answer(conn, req, dep, lane, verified, close=close, cookie=cookie)


async def _after_lookup(
    conn: EdgeConnection,
    req: Request,
    dep: Deployment,
    lane: Lane,
    *,
    close: bool,
    sealed: str,
    cookie: bytes | None,
    now: float,
) -> None:
    trusted = dep.trust.trusts(conn.peer)
    verified, set_cookies = await dep.gate.resolve(sealed, now, _proto(req, trusted, conn.state.scheme))
    if conn.still_serving(req):
        answer(conn, req, dep, lane, verified, close=close, cookie=cookie, set_cookies=set_cookies or None)


def answer(
    conn: EdgeConnection,
    req: Request,
    dep: Deployment,
    lane: Lane,
    verified: Verified | None,
    *,
    close: bool,
    cookie: bytes | None,
    set_cookies: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """The synchronous rest, once the session is known: decide, count the decision (and leave it for the
    access line), then forward (with identity headers) or reply with the verdict. ``cookie`` is the
    Cookie header for the upstream; ``set_cookies`` a refreshed or cleared session cookie for the client."""
    gate = dep.gate
    if lane is AUTH_LANE:
        decision = gate.decide_auth(req, verified, dep.trust.trusts(conn.peer))
    else:
        decision = gate.decide(req, verified, lane is BEARER_LANE)
    conn.state.stats.decision(gate.name, decision.allowed, decision.reasons)
    conn.reason = reason_of(decision)
    conn.decision = "allow" if decision.allowed else "deny"
    if verified is not None:
        conn.user = verified.session.email
    if decision.allowed and lane is not AUTH_LANE:
        # skip_auth passes no identity, as OAuth2-Proxy does, even when a session exists.
        skipped = _SKIP_AUTH in decision.reasons
        now = conn.state.clock.now()
        extra = verified.header_lines(now) if verified is not None and not skipped else b""
        conn.forward_to(
            req,
            dep.upstream,
            extra,
            cookie,
            req.wants_upgrade,
            trusted=dep.trust.trusts(conn.peer),
            host=gate.host_override,
            drop=gate.drop if extra else frozenset(),
            response_extra=set_cookies,
        )
        return
    status, data = verdict(lane, decision, req, gate, verified, close=close, set_cookies=set_cookies)
    conn.reply(status, data, close)


async def answer_locally(conn: EdgeConnection, req: Request, local: LocalEndpoint) -> None:
    """A provider endpoint the edge answers itself (the token endpoint: :mod:`idgate.provider.token_lane`)."""
    rid = req.request_id()
    status, headers, body = await local.answer(req.authorization, b"".join(req.body), rid.decode("ascii"))
    req.body = []
    if not conn.still_serving(req):
        return
    close = not req.keep_alive or conn.state.closing
    data = simple_response(
        status,
        body,
        content_type=_JSON,
        headers=headers,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
    )
    conn.reply(status, data, close)


def to_webapp(
    conn: EdgeConnection,
    req: Request,
    target: Target | None,
    extra: list[tuple[bytes, bytes]],
    name: str,
    *,
    trusted: bool = True,
) -> None:
    """Forward to one of idgate's web apps (cookies untouched: the sign-in app needs them)."""
    conn.deployment = name
    if target is None:
        conn.error(503, "webapp_unavailable", close=False)
        return
    cookie = b"; ".join(req.cookies) if req.cookies else None
    conn.forward_to(req, target, header_lines(extra), cookie, upgrade=False, trusted=trusted)


def _simple(req: Request, status: int, body: bytes, close: bool, ctype: bytes) -> bytes:
    return simple_response(
        status,
        body,
        content_type=ctype,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )

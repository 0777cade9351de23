"""The answers the edge builds itself on a deployment's host, wire-ready (``Content-Length`` framed).

Which one a request gets is :func:`idgate.edge.verdict.verdict`'s choice; these only build the bytes.
The connection adds ``X-Request-Id`` to each (:meth:`~idgate.edge.connection.EdgeConnection.reply`).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from idgate.edge.cookies import with_copies
from idgate.edge.http import Request, simple_response
from idgate.edge.pages import page
from idgate.policy.decision import Decision
from idgate.proxy.redirects import validate_redirect
from idgate.settings import ProxySettings

HTML = b"text/html; charset=utf-8"
_JSON = b"application/json"
_JSON_401 = json.dumps({"error": "unauthorized"}).encode()
_JSON_401_RID = b'{"error": "unauthorized", "request_id": "'
_JSON_INVALID_TOKEN = json.dumps({"error": "invalid_token"}).encode()
_WWW_INVALID_TOKEN = (b"WWW-Authenticate", b'Bearer error="invalid_token"')


def login_redirect(req: Request, close: bool, headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    """No session, a browser: 302 to ``/oauth/start?rd=<original path and query>`` (``headers`` after
    ``Location``: a refreshed or cleared cookie)."""
    target = req.url if req.url.startswith(b"/") else b"/"
    rd = quote(target.decode("latin-1"), safe="").encode("ascii")
    return simple_response(
        302,
        b"",
        headers=[(b"Location", b"/oauth/start?rd=" + rd), *(headers or ())],
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )


def unauthorized_json(
    req: Request, close: bool, headers: list[tuple[bytes, bytes]] | None = None, request_id: bytes = b""
) -> bytes:
    """No session, an API client: 401 ``{"error": "unauthorized"}``, naming ``request_id`` (a safe
    token) when given."""
    return simple_response(
        401,
        _JSON_401_RID + request_id + b'"}' if request_id else _JSON_401,
        headers=headers,
        content_type=_JSON,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )


def invalid_token_response(req: Request, close: bool) -> bytes:
    """A bearer JWT was presented and refused: 401 ``invalid_token`` (RFC 6750 §3.1), never a redirect."""
    return simple_response(
        401,
        _JSON_INVALID_TOKEN,
        headers=[_WWW_INVALID_TOKEN],
        content_type=_JSON,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )


def forbidden_response(
    req: Request,
    decision: Decision,
    close: bool,
    request_id: str = "",
    settings: ProxySettings | None = None,
    *,
    who: str = "",
) -> bytes:
    """Refused by the policy: a 403 page that says who is signed in (``who``, their email), names the
    reasons and the request id, and offers to sign out or to sign in as someone else, back to this
    address when the redirect validator accepts it for the deployment ``settings``."""
    rd = None
    if settings is not None and req.url.startswith(b"/"):
        target = req.url.decode("latin-1")
        rd = validate_redirect(target, host=settings.host, whitelist_domains=settings.whitelist_domains)
    return simple_response(
        403,
        page(403, reasons=decision.reason, request_id=request_id, rd=rd, who=who),
        content_type=HTML,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )


_AUTH_TEXT = {202: b"", 401: b"Unauthorized", 403: b"Forbidden"}
_AUTH_401 = simple_response(401, b"Unauthorized")


def auth_response(
    status: int,
    identity: list[tuple[bytes, bytes]] | None,
    set_cookies: list[tuple[bytes, bytes]] | None,
    close: bool,
    keep_alive_10: bool,
) -> bytes:
    """An answer of ``/oauth/auth`` (202, 401 or 403) with the ``identity`` headers and ``set_cookies``
    (each also as ``X-Idgate-Set-Cookie-<n>``). A person's plain 202 is built once by
    :meth:`~idgate.edge.gate.Verified.auth_accepted` instead."""
    if set_cookies:
        headers: list[tuple[bytes, bytes]] | None = [*(identity or ()), *with_copies(set_cookies)]
    elif status == 401 and not close and not keep_alive_10:
        return _AUTH_401
    else:
        headers = identity or None
    text = _AUTH_TEXT[status]
    return simple_response(status, text, headers=headers, close=close, keep_alive_10=keep_alive_10)

"""The hot path's decisions: session cookie -> session -> policy -> what to send where.

Nothing here does I/O. :class:`Gate` is one deployment's compiled state: its sealer, its policy, its
cookie names, and a bounded per-process memo of verified cookies (an AES-GCM open plus JSON costs
12-18 µs; a dict hit well under 1 µs). Only cookies that opened are memoised, each until its session
expires, so the memo cannot be filled with garbage and never outlives a session.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from idgate.clock import SystemClock
from idgate.edge.http import Request, simple_response
from idgate.edge.pages import page
from idgate.policy.decision import Decision
from idgate.policy.path import normalise_path
from idgate.policy.policy import Policy, compile_policy
from idgate.proxy.headers import auth_response_headers, upstream_identity_headers
from idgate.sessions.base import Session
from idgate.sessions.cookie import MAX_CHUNKS
from idgate.sessions.store import CookieSessions
from idgate.settings import ProxySettings

HTML = b"text/html; charset=utf-8"
_JSON_401 = json.dumps({"error": "unauthorized"}).encode()


def split_cookies(headers: list[bytes], name: bytes, csrf: bytes) -> tuple[str | None, bytes | None]:
    """Find the session cookie ``name`` (or its chunks ``name_0``...) by a hand split.

    Returns the sealed value (chunks joined; a whole ``name`` wins over chunks) and the Cookie header
    to send upstream: every other cookie, in order, without the session, its chunks and ``csrf``
    (``None`` when nothing is left).
    """
    whole: bytes | None = None
    chunks: dict[int, bytes] = {}
    kept: list[bytes] = []
    prefix = name + b"_"
    for header in headers:
        for part in header.split(b";"):
            pair = part.strip()
            if not pair:
                continue
            key, _, value = pair.partition(b"=")
            key = key.strip()
            if key.startswith(name):
                if key == name:
                    whole = value.strip()
                    continue
                if key == csrf:
                    continue
                suffix = key[len(prefix) :] if key.startswith(prefix) else b""
                if suffix.isdigit() and len(suffix) <= 2:
                    chunks[int(suffix)] = value.strip()
                    continue
            kept.append(pair)
    rest = b"; ".join(kept) if kept else None
    if whole is not None:
        return whole.decode("latin-1"), rest
    parts: list[bytes] = []
    for i in range(MAX_CHUNKS):
        piece = chunks.get(i)
        if piece is None:
            break
        parts.append(piece)
    return (b"".join(parts).decode("latin-1") if parts else None), rest


def _encode(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("ascii"), v.encode("utf-8")) for k, v in pairs]


class Verified:
    """A session opened from a cookie, with the headers derived from it (computed once)."""

    __slots__ = ("auth_headers", "expires_at", "session", "upstream_headers")

    def __init__(self, session: Session, pass_user_headers: bool) -> None:
        self.session = session
        self.expires_at = session.expires_at
        self.upstream_headers = _encode(upstream_identity_headers(session)) if pass_user_headers else []
        self.auth_headers = _encode(auth_response_headers(session))


class Gate:
    """One deployment's hot-path state, built once from its settings."""

    __slots__ = (
        "_memo",
        "_memo_size",
        "_store",
        "cookie",
        "cookie_b",
        "csrf_b",
        "name",
        "name_b",
        "pass_user_headers",
        "policy",
    )

    def __init__(self, p: ProxySettings, memo_size: int = 10_000) -> None:
        self.name = p.name
        self.name_b = p.name.encode()
        self.cookie = p.session_cookie
        self.cookie_b = p.session_cookie.encode()
        self.csrf_b = p.csrf_cookie.encode()
        self.pass_user_headers = p.pass_user_headers
        self.policy: Policy = compile_policy(p)
        self._store = CookieSessions(p, SystemClock())  # only open(sealed, now) is used: time comes in
        self._memo: dict[str, Verified] = {}
        self._memo_size = memo_size

    def open(self, sealed: str | None, now: float) -> Verified | None:
        """The verified session in cookie value ``sealed``; ``None`` if absent, invalid or expired."""
        if not sealed:
            return None
        hit = self._memo.get(sealed)
        if hit is not None:
            if now < hit.expires_at:
                return hit
            del self._memo[sealed]
            return None
        session = self._store.open(sealed, now)
        if session is None:
            return None
        verified = Verified(session, self.pass_user_headers)
        if self._memo_size <= 0:  # memo off
            return verified
        if len(self._memo) >= self._memo_size:
            self._evict(now)
        self._memo[sealed] = verified
        return verified

    def _evict(self, now: float) -> None:
        expired = [k for k, v in self._memo.items() if now >= v.expires_at]
        for k in expired:
            del self._memo[k]
        while len(self._memo) >= self._memo_size:
            del self._memo[next(iter(self._memo))]  # the oldest entry

    def decide(self, req: Request, verified: Verified | None) -> Decision:
        """The policy's decision for ``req`` (path normalised only when the policy looks at it)."""
        session = verified.session if verified is not None else None
        policy = self.policy
        if not policy.uses_path:
            return policy.decide_session(session)
        path = normalise_path(req.path().decode("latin-1"))
        return policy.decide(session, req.method.decode("ascii", "replace"), path)


def wants_json(req: Request) -> bool:
    """An API client (no login page for it): ``Accept: application/json`` without HTML, or XHR."""
    if req.xrw.lower() == b"xmlhttprequest":
        return True
    accept = req.accept.lower()
    return b"application/json" in accept and b"text/html" not in accept


def login_response(req: Request, close: bool) -> bytes:
    """No session: 302 to ``/oauth/start?rd=<original path and query>``, or 401 for API clients."""
    head_only = req.method == b"HEAD"
    if wants_json(req):
        return simple_response(
            401,
            _JSON_401,
            content_type=b"application/json",
            close=close,
            keep_alive_10=req.version == "1.0" and not close,
            head_only=head_only,
        )
    target = req.url if req.url.startswith(b"/") else b"/"
    rd = quote(target.decode("latin-1"), safe="").encode("ascii")
    return simple_response(
        302,
        b"",
        headers=[(b"Location", b"/oauth/start?rd=" + rd)],
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=head_only,
    )


def forbidden_response(req: Request, decision: Decision, close: bool) -> bytes:
    """Refused by the policy: a 403 page that names the reasons."""
    return simple_response(
        403,
        page(403, reasons=decision.reason),
        content_type=HTML,
        close=close,
        keep_alive_10=req.version == "1.0" and not close,
        head_only=req.method == b"HEAD",
    )


def auth_response(req: Request, gate: Gate, verified: Verified | None, close: bool) -> tuple[bytes, Decision]:
    """``/oauth/auth`` for nginx ``auth_request``: 202 + ``X-Auth-Request-*``, 401 or 403.

    Paths are not considered (``skip_auth_regex`` does not apply to this endpoint).
    """
    decision = gate.policy.decide_session(verified.session if verified else None)
    keep_10 = req.version == "1.0" and not close
    if decision.allowed and verified is not None:
        body = simple_response(202, b"", headers=verified.auth_headers, close=close, keep_alive_10=keep_10)
    elif decision.unauthenticated:
        body = simple_response(401, b"Unauthorized", close=close, keep_alive_10=keep_10)
    else:
        body = simple_response(403, b"Forbidden", close=close, keep_alive_10=keep_10)
    return body, decision

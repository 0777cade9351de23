"""The gate: session cookie (or bearer JWT) -> session -> decision, for one deployment.

Nothing here does I/O except :meth:`Gate.resolve` and :meth:`Gate.resolve_bearer`, the awaited halves
taken only when the synchronous ones answer ``PENDING``. :class:`Gate` is one deployment's compiled state:
its sealer, its policy, its cookie names, and a bounded per-process memo of verified cookies (base64, an
AES-GCM open, JSON and the identity headers cost 12-16 µs; a dict hit well under 1 µs). Only cookies that
opened are memoised, each until its session expires (at most ``cookie_expire``), so the memo cannot be
filled with garbage and never outlives a session. A memo hit is refused when its session id was revoked
since (sign-out here or in another process: :mod:`idgate.sessions.revocations`), at the cost of one more
dict look-up. Bearer JWTs (``skip_jwt_bearer_tokens``, :mod:`idgate.proxy.bearer`) have a memo of their
own, on the same terms: only verified tokens, each until its ``exp`` (at most ``cookie_expire``: the
bearer verifier caps the session).

The decision is :meth:`Gate.decide`'s on the proxy lane (the policy, a bearer token's marks, a WebSocket
handshake's origin) and :meth:`Gate.decide_auth`'s for ``/oauth/auth`` (the policy about the request a
proxy in front asks for, narrowed by the query's constraints). What the edge answers for a decision is
:mod:`idgate.edge.verdict`'s; the cookie on the wire is :mod:`idgate.edge.cookies`'.
"""

from __future__ import annotations

import re

from idgate.clock import SystemClock
from idgate.edge.cookies import (
    SPLIT_MEMO_BYTES,
    SPLIT_MEMO_SIZE,
    cleared_cookies,
    renewed_cookies,
    split_cookies,
)
from idgate.edge.http import Request, header_lines, simple_response
from idgate.policy.criteria import Criterion
from idgate.policy.criteria.query import query_constraints
from idgate.policy.decision import REFUSE_WEBSOCKET_ORIGIN, Decision, Reason
from idgate.policy.path import normalise_path
from idgate.policy.policy import Policy, compile_policy
from idgate.proxy.assertion import ASSERTION_HEADER
from idgate.proxy.headers import HeaderOptions, auth_headers, upstream_headers
from idgate.proxy.redirects import validate_redirect
from idgate.proxy.services import ProxyServices, build_services
from idgate.sessions.base import PENDING, Pending, Session
from idgate.sessions.cookie_store import CookieSessions
from idgate.sessions.flight import SingleFlight
from idgate.settings import ProxySettings

#: How long a session read from a server-side store (Redis) is remembered per process.
STATEFUL_MEMO_SECONDS = 2.0
# Read per request: bound once (an enum member read as ``Reason.X`` costs a metaclass hook on 3.11).
_SKIP_AUTH = Reason.SKIP_AUTH
_MARK_BEARER = frozenset({Reason.BEARER})
_MARK_BEARER_INVALID = frozenset({Reason.BEARER_INVALID})


_ASSERTION_B = ASSERTION_HEADER.encode()
_NEVER = float("inf")


class Verified:
    """A session opened from a cookie, with the headers derived from it (computed once, when first needed).

    ``until``: when the memo must look again (expiry, refresh due, or the Redis memo's end).
    ``header_lines(now)`` adds the signed assertion, re-signed only after half its lifetime (the signer
    keeps it too, so a session opened again from its cookie reuses it). ``auth_headers`` (what
    ``/oauth/auth`` answers) are derived on first use: a session that is only proxied never pays for them.
    ``decision`` is the policy's, kept by :meth:`Gate.decide` when the policy does not look at the path
    (its criteria are functions of the session alone).
    """

    __slots__ = (
        "_auth_202",
        "_auth_headers",
        "assertion_renew",
        "decision",
        "expires_at",
        "forward_lines",
        "gate",
        "session",
        "sid",
        "until",
        "upstream_headers",
    )

    def __init__(self, session: Session, gate: Gate, until: float) -> None:
        self.session = session
        self.sid = session.sid
        self.gate = gate
        self.expires_at = session.expires_at
        self.until = until
        self.upstream_headers = upstream_headers(session, gate.header_options)
        self._auth_headers: list[tuple[bytes, bytes]] | None = None
        self._auth_202: bytes | None = None
        self.forward_lines = header_lines(self.upstream_headers)
        self.decision: Decision | None = None  # the policy's, when it does not look at the path
        self.assertion_renew = -_NEVER if gate.signer is not None else _NEVER

    @property
    def auth_headers(self) -> list[tuple[bytes, bytes]]:
        """``X-Auth-Request-*`` and the tokens the options ask for (``/oauth/auth``'s 202)."""
        found = self._auth_headers
        if found is None:
            found = self._auth_headers = auth_headers(self.session, self.gate.header_options)
        return found

    def auth_accepted(self, close: bool, keep_alive_10: bool) -> bytes:
        """``/oauth/auth``'s 202 for this person (built once for a plain keep-alive answer)."""
        if close or keep_alive_10:
            return simple_response(
                202, b"", headers=self.auth_headers, close=close, keep_alive_10=keep_alive_10
            )
        found = self._auth_202
        if found is None:
            found = self._auth_202 = simple_response(202, b"", headers=self.auth_headers)
        return found

    def header_lines(self, now: float) -> bytes:
        """What the upstream receives about this person (and the assertion, when on), wire-ready."""
        if now >= self.assertion_renew:
            signer = self.gate.signer
            assert signer is not None
            token, self.assertion_renew = signer.assertion(self.session, now)
            self.forward_lines = header_lines([*self.upstream_headers, (_ASSERTION_B, token)])
        return self.forward_lines


class Gate:
    """One deployment's hot-path state, built once from its settings and services."""

    __slots__ = (
        "_bearer_memo",
        "_flight",
        "_memo",
        "_memo_size",
        "_split_memo",
        "api_routes",
        "bearer",
        "cookie",
        "cookie_b",
        "cookies",
        "csrf_b",
        "drop",
        "header_options",
        "host_override",
        "name",
        "name_b",
        "pass_user_headers",
        "policy",
        "refresher",
        "revoked",
        "settings",
        "signer",
        "stateful",
        "store",
    )

    def __init__(
        self, p: ProxySettings, memo_size: int = 10_000, services: ProxyServices | None = None
    ) -> None:
        if services is None:
            services = build_services([p], SystemClock(), None)[p.name]
        self.settings = p
        self.name = p.name
        self.name_b = p.name.encode()
        self.cookie = p.session_cookie
        self.cookie_b = p.session_cookie.encode()
        self.csrf_b = p.csrf_cookie.encode()
        self.pass_user_headers = p.pass_user_headers
        self.header_options = HeaderOptions.of(p)
        self.policy: Policy = compile_policy(p)
        self.api_routes = tuple(re.compile(r) for r in p.api_routes)
        self.store = services.store
        self.stateful = not isinstance(services.store, CookieSessions)
        self.refresher = services.refresher
        self.signer = services.signer
        self.cookies = services.cookies
        self.host_override = None if p.pass_host_header else upstream_authority(p.upstream)
        self.drop = frozenset({b"authorization"}) if p.pass_authorization_header else frozenset()
        self.bearer = services.bearer
        self.revoked: dict[str, float] = services.revocations.ids  # the process's, changed in place
        self._memo: dict[str, Verified] = {}
        self._bearer_memo: dict[str, Verified] = {}
        self._memo_size = memo_size
        self._split_memo: dict[bytes, tuple[str | None, bytes | None]] = {}
        self._flight: SingleFlight[tuple[Verified | None, list[tuple[bytes, bytes]]]] = SingleFlight()

    def split(self, headers: list[bytes]) -> tuple[str | None, bytes | None]:
        """:func:`split_cookies` for this deployment's cookie names, remembered per Cookie header value.

        The split is a pure function of the header's bytes, so it is kept for a small bounded set of
        headers (the oldest forgotten first). A hit also returns the very same sealed ``str``, whose hash
        Python keeps: the lookup in the memo of verified cookies then hashes nothing.
        """
        if len(headers) != 1:
            return split_cookies(headers, self.cookie_b, self.csrf_b)
        raw = headers[0]
        memo = self._split_memo
        found = memo.get(raw)
        if found is None:
            found = split_cookies(headers, self.cookie_b, self.csrf_b)
            if len(raw) <= SPLIT_MEMO_BYTES:
                if len(memo) >= SPLIT_MEMO_SIZE:
                    del memo[next(iter(memo))]
                memo[raw] = found
        return found

    def _until(self, session: Session, now: float) -> float:
        until = min(session.expires_at, now + self.settings.cookie_expire)
        if self.refresher is not None:
            until = min(until, self.refresher.due_at(session))
        if self.stateful:
            until = min(until, now + STATEFUL_MEMO_SECONDS)
        return until

    def open(self, sealed: str | None, now: float) -> Verified | Pending | None:
        """The verified session in cookie value ``sealed``: ``None`` if absent; :data:`PENDING` when only
        :meth:`resolve` can tell (Redis lookup, refresh) or when the cookie is altered, expired or signed
        out: :meth:`resolve` then answers no session and the ``Set-Cookie`` headers that clear it, as
        OAuth2-Proxy clears a cookie it cannot load (a browser would otherwise send it on and on)."""
        if not sealed:
            return None
        hit = self._memo.get(sealed)
        if hit is not None:
            if now < hit.until and hit.sid not in self.revoked:
                return hit
            del self._memo[sealed]
            return PENDING
        session = self.store.peek(sealed, now)
        if session is None:
            return PENDING  # refused: resolve() clears the cookie
        if isinstance(session, Pending):
            return session
        until = self._until(session, now)
        if now >= until:
            return PENDING  # refresh due
        return self._remember(sealed, Verified(session, self, until), now)

    def open_bearer(self, token: str, now: float) -> Verified | Pending | None:
        """The session a bearer JWT stands for (memoised until its ``exp``): ``None`` when refused,
        :data:`PENDING` when only :meth:`resolve_bearer` (fetching the issuer's keys) can tell."""
        hit = self._bearer_memo.get(token)
        if hit is not None:
            if now < hit.until:
                return hit
            del self._bearer_memo[token]
            return None
        assert self.bearer is not None
        session = self.bearer.check(token, now)
        if session is None or isinstance(session, Pending):
            return session
        return self._remember(token, Verified(session, self, session.expires_at), now, self._bearer_memo)

    async def resolve_bearer(self, token: str, now: float) -> Verified | None:
        """The awaited half of :meth:`open_bearer`; raises ``ProviderUnavailable`` without keys."""
        assert self.bearer is not None
        session = await self.bearer.verify(token, now)
        if session is None:
            return None
        return self._remember(token, Verified(session, self, session.expires_at), now, self._bearer_memo)

    async def resolve(
        self, sealed: str, now: float, proto: str
    ) -> tuple[Verified | None, list[tuple[bytes, bytes]]]:
        """The awaited half of :meth:`open`: fetch, refresh when due. Returns the session and the
        ``Set-Cookie`` headers to add to the response (a refreshed cookie, or cleared cookies).

        Requests that arrive with one cookie while its session is being read share that read (single
        flight): a dashboard's fifty panels cost one Redis round trip when the memo entry ends, not fifty.
        """
        return await self._flight.run((sealed, proto), lambda: self._resolve(sealed, now, proto))

    async def _resolve(
        self, sealed: str, now: float, proto: str
    ) -> tuple[Verified | None, list[tuple[bytes, bytes]]]:
        session = await self.store.fetch(sealed, now)
        if session is None:
            return None, self._clear(proto)
        set_cookies: list[tuple[bytes, bytes]] = []
        refresher = self.refresher
        if refresher is not None and now >= refresher.due_at(session):
            result = await refresher.refresh(sealed, session, now)
            if result.session is None:
                return None, self._clear(proto)
            session = result.session
            if result.value is not None:
                max_age = session.expires_at - now
                set_cookies = renewed_cookies(
                    self.cookies, self.cookie, result.value, max_age=max_age, proto=proto
                )
        verified = Verified(session, self, self._until(session, now))
        if now >= verified.until:  # refresh still due (another process holds the lock)
            verified.until = now + 1.0
        return self._remember(sealed, verified, now), set_cookies

    def _clear(self, proto: str) -> list[tuple[bytes, bytes]]:
        return cleared_cookies(self.cookies, self.cookie, proto)

    def _remember(
        self, key: str, verified: Verified, now: float, memo: dict[str, Verified] | None = None
    ) -> Verified:
        memo = self._memo if memo is None else memo
        if self._memo_size <= 0:  # memo off
            return verified
        if len(memo) >= self._memo_size:
            self._evict(memo, now)
        memo[key] = verified
        return verified

    def forget(self, sealed: str) -> None:
        """Drop a memoised cookie value (sign-out in this process)."""
        self._memo.pop(sealed, None)

    def _evict(self, memo: dict[str, Verified], now: float) -> None:
        expired = [k for k, v in memo.items() if now >= v.until]
        for k in expired:
            del memo[k]
        while len(memo) >= self._memo_size:
            del memo[next(iter(memo))]  # the oldest entry

    def decide(self, req: Request, verified: Verified | None, bearer: bool = False) -> Decision:
        """The decision for ``req`` on the proxy lane.

        The policy's (the path normalised only when the policy looks at it); with ``bearer`` (the
        request carried a bearer JWT) marked ``bearer_token`` when the token is the session and
        ``bearer_token_invalid`` when it was refused where a session is needed. A WebSocket handshake
        from another site's page is refused (``websocket_origin_not_allowed``) whatever the policy says.
        """
        policy = self.policy
        if not policy.uses_path:  # a function of the session alone: kept with the verified session
            if verified is None:
                decision = policy.decide_session(None)
            else:
                found = verified.decision
                if found is None:
                    found = verified.decision = policy.decide_session(verified.session)
                decision = found
        else:
            session = verified.session if verified is not None else None
            path = normalise_path(req.path().decode("latin-1"))
            decision = policy.decide(session, req.method.decode("ascii", "replace"), path)
        if bearer:
            if verified is not None:
                decision = Decision(decision.allowed, decision.reasons | _MARK_BEARER)
            elif decision.unauthenticated:
                decision = Decision(False, decision.reasons | _MARK_BEARER_INVALID)
        # ``req.upgrade`` first: no Upgrade header (nearly every request) costs no property call.
        if decision.allowed and req.upgrade and req.wants_upgrade and not self.origin_allowed(req):
            return REFUSE_WEBSOCKET_ORIGIN
        return decision

    def decide_auth(self, req: Request, verified: Verified | None, trusted: bool) -> Decision:
        """What ``/oauth/auth`` decides: about the request the proxy in front is asking for.

        A trusted proxy names it in ``X-Forwarded-Uri`` (and ``X-Forwarded-Method``, default ``GET``), as
        OAuth2-Proxy reads them: the whole policy applies to that path -- ``skip_auth_*`` and the per-route
        rules. Without one (or from a peer not trusted), a policy with route rules applies all of them
        (``path=None``: fail closed), and one without any decides on the session alone. The query's
        ``allowed_groups`` / ``allowed_emails`` / ``allowed_email_domains`` narrow an allowed session
        (:mod:`idgate.policy.criteria.query`); a skipped path stays allowed.
        """
        session = verified.session if verified else None
        policy = self.policy
        if not policy.uses_path:
            decision = policy.decide_session(session)
        elif trusted and req.xfu:
            q = req.xfu.find(b"?")
            path = normalise_path((req.xfu if q < 0 else req.xfu[:q]).decode("latin-1"))
            method = (req.xfm or b"GET").decode("ascii", "replace").upper()
            decision = policy.decide(session, method, path)
        else:
            decision = policy.decide(session, "GET", None)
        if decision.allowed and verified is not None:
            extra = _constraints(req.url)
            if extra is not None and _SKIP_AUTH not in decision.reasons:
                failed = extra(verified.session)
                if failed:
                    return Decision(False, frozenset(failed))
        return decision

    def origin_allowed(self, req: Request) -> bool:
        """A WebSocket handshake from a browser must come from the deployment's own origin (or a
        ``whitelist_domains`` one): another site's page cannot open it with the visitor's cookie."""
        if not req.origin:
            return True  # not a browser: cross-site WebSocket hijacking needs one
        p = self.settings
        origin = req.origin.decode("latin-1")
        return validate_redirect(origin + "/", host=p.host, whitelist_domains=p.whitelist_domains) is not None

    def is_api(self, req: Request) -> bool:
        """An API client: JSON/XHR, or a path in ``api_routes`` (401 instead of a login redirect)."""
        if wants_json(req):
            return True
        if not self.api_routes:
            return False
        path = normalise_path(req.path().decode("latin-1")) or ""
        return any(p.search(path) is not None for p in self.api_routes)


def upstream_authority(url: str) -> bytes:
    """``host:port`` of an upstream URL, for ``Host`` when ``pass_host_header`` is false."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].encode("ascii")


def wants_json(req: Request) -> bool:
    """An API client (no login page for it): ``Accept: application/json`` without HTML, or XHR."""
    if req.xrw.lower() == b"xmlhttprequest":
        return True
    accept = req.accept.lower()
    return b"application/json" in accept and b"text/html" not in accept


_QUERY_MEMO_MAX = 256
_query_memo: dict[bytes, Criterion | None] = {}


def _constraints(url: bytes) -> Criterion | None:
    q = url.find(b"?")
    if q < 0:
        return None
    query = url[q + 1 :]
    try:
        return _query_memo[query]
    except KeyError:
        pass
    criterion = query_constraints(query.decode("latin-1"))
    if len(_query_memo) < _QUERY_MEMO_MAX:
        _query_memo[query] = criterion
    return criterion

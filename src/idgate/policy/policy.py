"""A deployment's policy, compiled once from :class:`~idgate.settings.ProxySettings`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from idgate.policy.criteria import Criterion
from idgate.policy.criteria.email import email_domains, email_verified
from idgate.policy.criteria.groups import allowed_groups, github
from idgate.policy.criteria.routes import CompiledRoute, compile_routes, route_failures
from idgate.policy.decision import (
    ALLOW_AUTHENTICATED,
    ALLOW_PREFLIGHT,
    ALLOW_SKIP_AUTH,
    REFUSE_UNAUTHENTICATED,
    Decision,
)
from idgate.sessions.base import Session
from idgate.settings import ProxySettings


class Policy:
    """Decides whether a request may pass. Pure: same inputs, same decision; no I/O, no clock.

    Session expiry is the caller's business (an expired session is ``None`` here).
    """

    __slots__ = ("_criteria", "_preflight", "_refusals", "_routes", "_skip", "_skip_routes", "uses_path")

    def __init__(
        self,
        skip_auth: Sequence[re.Pattern[str]],
        criteria: Sequence[Criterion],
        *,
        skip_routes: Sequence[tuple[str, re.Pattern[str]]] = (),
        routes: Sequence[CompiledRoute] = (),
        skip_preflight: bool = False,
    ) -> None:
        self._skip = tuple(skip_auth)
        self._skip_routes = tuple(skip_routes)
        self._criteria = tuple(criteria)
        self._routes = tuple(routes)
        self._preflight = skip_preflight
        self._refusals: dict[tuple[str, ...], Decision] = {}
        #: Whether :meth:`decide` looks at the method or path (callers may skip normalising otherwise).
        self.uses_path = bool(self._skip or self._skip_routes or self._routes or skip_preflight)

    def skips(self, path: str | None, method: str = "GET") -> bool:
        """Whether the normalised ``path`` is open (``skip_auth_regex``/``_routes``; ``None`` never is)."""
        if path is None:
            return False
        if any(p.search(path) is not None for p in self._skip):
            return True
        return any((not m or m == method) and p.search(path) is not None for m, p in self._skip_routes)

    def decide(self, session: Session | None, method: str, path: str | None) -> Decision:
        """The decision for ``session`` (``None``: nobody signed in) asking ``method`` ``path``.

        ``path`` must be normalised (:func:`idgate.policy.path.normalise_path`) and carry no query;
        ``None`` means the path could not be normalised safely: never skipped, every route rule applies.
        """
        if self._preflight and method == "OPTIONS":
            return ALLOW_PREFLIGHT
        if (self._skip or self._skip_routes) and self.skips(path, method):
            return ALLOW_SKIP_AUTH
        decision = self.decide_session(session)
        if not decision.allowed or not self._routes:
            return decision
        assert session is not None
        failed = route_failures(self._routes, session, method, path)
        return self._refusal(failed) if failed else decision

    def decide_session(self, session: Session | None) -> Decision:
        """The decision for ``session`` regardless of the path (what ``/oauth/auth`` answers)."""
        if session is None:
            return REFUSE_UNAUTHENTICATED
        failed: tuple[str, ...] = ()
        for criterion in self._criteria:
            failed += criterion(session)
        if not failed:
            return ALLOW_AUTHENTICATED
        return self._refusal(failed)

    def _refusal(self, failed: tuple[str, ...]) -> Decision:
        decision = self._refusals.get(failed)
        if decision is None:
            if len(self._refusals) > 1024:
                self._refusals.clear()
            decision = self._refusals.setdefault(failed, Decision(False, frozenset(failed)))
        return decision


def compile_policy(p: ProxySettings) -> Policy:
    """Build the policy of one deployment. Raises ``re.error`` for an invalid regex."""
    candidates = (
        email_verified(p.insecure_allow_unverified_email),
        email_domains(p.email_domains, p.authenticated_emails),
        github(p.github_org, p.github_team),
        allowed_groups(p.allowed_groups),
    )
    criteria = [c for c in candidates if c is not None]
    return Policy(
        [re.compile(r) for r in p.skip_auth_regex],
        criteria,
        skip_routes=[(m.upper(), re.compile(r)) for m, r in p.skip_auth_routes],
        routes=compile_routes(p.routes),
        skip_preflight=p.skip_auth_preflight,
    )

"""A deployment's policy, compiled once from :class:`~idgate.settings.ProxySettings`."""

from __future__ import annotations

import re
from collections.abc import Sequence

from idgate.policy.criteria import Criterion
from idgate.policy.criteria.email import email_domains, email_verified
from idgate.policy.criteria.groups import allowed_groups, github
from idgate.policy.decision import (
    ALLOW_AUTHENTICATED,
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

    __slots__ = ("_criteria", "_refusals", "_skip")

    def __init__(self, skip_auth: Sequence[re.Pattern[str]], criteria: Sequence[Criterion]) -> None:
        self._skip = tuple(skip_auth)
        self._criteria = tuple(criteria)
        self._refusals: dict[tuple[str, ...], Decision] = {}

    @property
    def uses_path(self) -> bool:
        """Whether :meth:`decide` looks at the path (callers may skip normalising it otherwise)."""
        return bool(self._skip)

    def skips(self, path: str | None) -> bool:
        """Whether the normalised ``path`` matches a ``skip_auth_regex`` (``None`` never does)."""
        if path is None:
            return False
        return any(p.search(path) is not None for p in self._skip)

    def decide(self, session: Session | None, method: str, path: str | None) -> Decision:
        """The decision for ``session`` (``None``: nobody signed in) asking ``method`` ``path``.

        ``path`` must be normalised (:func:`idgate.policy.path.normalise_path`) and carry no query;
        ``None`` means the path could not be normalised safely and is never skipped.
        """
        if self._skip and self.skips(path):
            return ALLOW_SKIP_AUTH
        return self.decide_session(session)

    def decide_session(self, session: Session | None) -> Decision:
        """The decision for ``session`` regardless of the path (what ``/oauth/auth`` answers)."""
        if session is None:
            return REFUSE_UNAUTHENTICATED
        failed: tuple[str, ...] = ()
        for criterion in self._criteria:
            failed += criterion(session)
        if not failed:
            return ALLOW_AUTHENTICATED
        decision = self._refusals.get(failed)
        if decision is None:
            decision = self._refusals.setdefault(failed, Decision(False, frozenset(failed)))
        return decision


def compile_policy(p: ProxySettings) -> Policy:
    """Build the policy of one deployment. Raises ``re.error`` for an invalid ``skip_auth_regex``."""
    candidates = (
        email_verified(p.insecure_allow_unverified_email),
        email_domains(p.email_domains),
        github(p.github_org, p.github_team),
        allowed_groups(p.allowed_groups),
    )
    criteria = [c for c in candidates if c is not None]
    return Policy([re.compile(r) for r in p.skip_auth_regex], criteria)

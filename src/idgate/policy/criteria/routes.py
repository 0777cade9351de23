"""Per-route rules (idgate's ``routes:`` extension): extra conditions for the requests a rule matches.

A rule matches when its ``path`` regex is found in the normalised path and the method is one of its
``methods`` (any when empty). A path that could not be normalised matches every rule, so an odd
spelling can never slip past a rule. A failing rule answers ``route[<index>]:<reason>``, so the 403 page
and the access log say which rule refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from idgate.policy.criteria.email import email_domain
from idgate.policy.decision import Reason
from idgate.sessions.base import Session
from idgate.settings import RouteRule

_NO_GROUP, _NO_EMAIL, _NO_DOMAIN = (
    Reason.GROUP_NOT_ALLOWED,
    Reason.EMAIL_NOT_ALLOWED,
    Reason.EMAIL_DOMAIN_NOT_ALLOWED,
)


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    """One rule, ready to evaluate."""

    index: int
    path: re.Pattern[str]
    methods: frozenset[str]
    groups: frozenset[str]
    emails: frozenset[str]
    domains: frozenset[str]

    def matches(self, method: str, path: str | None) -> bool:
        if self.methods and method not in self.methods:
            return False
        return path is None or self.path.search(path) is not None

    def failures(self, session: Session) -> tuple[str, ...]:
        tag = f"route[{self.index}]:"
        out: list[str] = []
        if self.groups and self.groups.isdisjoint(session.groups):
            out.append(tag + _NO_GROUP)
        if self.emails and session.email.lower() not in self.emails:
            out.append(tag + _NO_EMAIL)
        if self.domains and email_domain(session.email) not in self.domains:
            out.append(tag + _NO_DOMAIN)
        return tuple(out)


def compile_routes(rules: Sequence[RouteRule]) -> tuple[CompiledRoute, ...]:
    """Compile ``routes:`` (raises ``re.error`` for a bad regex; config validation catches it first)."""
    return tuple(
        CompiledRoute(
            index=i,
            path=re.compile(r.path),
            methods=frozenset(m.upper() for m in r.methods),
            groups=frozenset(r.allowed_groups),
            emails=frozenset(e.lower() for e in r.allowed_emails),
            domains=frozenset(d.lower() for d in r.allowed_email_domains),
        )
        for i, r in enumerate(rules)
    )


def route_failures(
    routes: Sequence[CompiledRoute], session: Session, method: str, path: str | None
) -> tuple[str, ...]:
    """The reasons every matching rule gives against ``session`` (empty: all pass)."""
    failed: tuple[str, ...] = ()
    for route in routes:
        if route.matches(method, path):
            failed += route.failures(session)
    return failed

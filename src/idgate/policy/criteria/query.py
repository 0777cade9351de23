"""``/oauth/auth?allowed_groups=..&allowed_emails=..&allowed_email_domains=..``: per-location constraints
that nginx ``auth_request``, Traefik ``forwardAuth`` or Caddy ``forward_auth`` put in the URL they call.

Each parameter is a comma-separated list and may repeat; each non-empty one must be met (groups: one of
them; emails: exactly one of them; domains: the address's domain). Parsed once per distinct query string.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from idgate.policy.criteria import Criterion
from idgate.policy.criteria.email import email_domain
from idgate.policy.decision import Reason
from idgate.sessions.base import Session

_NO_GROUP = (Reason.GROUP_NOT_ALLOWED,)
_NO_EMAIL = (Reason.EMAIL_NOT_ALLOWED,)
_NO_DOMAIN = (Reason.EMAIL_DOMAIN_NOT_ALLOWED,)


def _values(pairs: list[tuple[str, str]], key: str) -> frozenset[str]:
    return frozenset(v.strip() for k, raw in pairs if k == key for v in raw.split(",") if v.strip())


def query_constraints(query: str) -> Criterion | None:
    """The criterion a query string asks for; ``None`` when it asks nothing."""
    pairs = parse_qsl(query, keep_blank_values=False)
    groups = _values(pairs, "allowed_groups")
    emails = frozenset(e.lower() for e in _values(pairs, "allowed_emails"))
    domains = frozenset(d.lower() for d in _values(pairs, "allowed_email_domains"))
    if not (groups or emails or domains):
        return None

    def check(session: Session) -> tuple[str, ...]:
        failed: tuple[str, ...] = ()
        if groups and groups.isdisjoint(session.groups):
            failed += _NO_GROUP
        if emails and session.email.lower() not in emails:
            failed += _NO_EMAIL
        if domains and email_domain(session.email) not in domains:
            failed += _NO_DOMAIN
        return failed

    return check

"""The answer of a policy: allowed or not, and why (Pomerium's "decisions carry reasons").

:class:`Reason` is every reason word idgate gives. Its values are stable identifiers: they appear in the
access log, in the ``reason`` label of ``idgate_decisions_total``, on the 403 page and in
tests, so a value never changes. A :class:`Reason` is a ``str``: it joins, sorts, hashes and compares as
its value. A per-route rule's refusal is ``route[<index>]:<reason>`` (:mod:`idgate.policy.criteria.routes`),
a plain ``str`` built from a :class:`Reason`.

On Python 3.11 reading ``Reason.X`` goes through the enum's metaclass (~0.1 µs); code that runs per
request reads a member bound once to a module name (``_SKIP_AUTH = Reason.SKIP_AUTH``) or a constant
built from it, as :data:`ALLOW_SKIP_AUTH` and the criteria's tuples are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why a request may pass or not: one word per outcome of a policy or of the edge's own checks."""

    SKIP_AUTH = "skip_auth"  # the path is open (skip_auth_regex / skip_auth_routes)
    PREFLIGHT = "skip_auth_preflight"  # a CORS preflight, let through by skip_auth_preflight
    AUTHENTICATED = "authenticated"
    UNAUTHENTICATED = "unauthenticated"  # nobody signed in: the edge starts a login (or answers 401)
    EMAIL_NOT_VERIFIED = "email_not_verified"
    EMAIL_DOMAIN_NOT_ALLOWED = "email_domain_not_allowed"
    GITHUB_ORG_NOT_ALLOWED = "github_org_not_allowed"
    GITHUB_TEAM_NOT_ALLOWED = "github_team_not_allowed"
    GROUP_NOT_ALLOWED = "not_in_allowed_groups"
    EMAIL_NOT_ALLOWED = "email_not_allowed"
    BEARER = "bearer_token"  # the session came from an Authorization: Bearer JWT
    BEARER_INVALID = "bearer_token_invalid"  # a bearer JWT was presented and refused
    WEBSOCKET_ORIGIN_NOT_ALLOWED = "websocket_origin_not_allowed"  # a handshake from another site's page


_UNAUTHENTICATED = Reason.UNAUTHENTICATED


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, with the reasons that led there (never empty).

    ``reasons`` holds :class:`Reason` members, and ``route[<index>]:<reason>`` strings for per-route rules.
    """

    allowed: bool
    reasons: frozenset[str]

    @property
    def unauthenticated(self) -> bool:
        """Refused only because nobody is signed in: the caller should start a login."""
        return not self.allowed and _UNAUTHENTICATED in self.reasons

    @property
    def reason(self) -> str:
        """The reasons as one stable, sorted, comma-joined string (for logs and pages)."""
        return ",".join(sorted(self.reasons))


ALLOW_SKIP_AUTH = Decision(True, frozenset({Reason.SKIP_AUTH}))
ALLOW_AUTHENTICATED = Decision(True, frozenset({Reason.AUTHENTICATED}))
ALLOW_PREFLIGHT = Decision(True, frozenset({Reason.PREFLIGHT}))
REFUSE_UNAUTHENTICATED = Decision(False, frozenset({Reason.UNAUTHENTICATED}))
#: A WebSocket handshake whose ``Origin`` is another site (the edge refuses it whatever the policy says).
REFUSE_WEBSOCKET_ORIGIN = Decision(False, frozenset({Reason.WEBSOCKET_ORIGIN_NOT_ALLOWED}))

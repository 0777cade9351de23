"""The answer of a policy: allowed or not, and why (Pomerium's "decisions carry reasons")."""

from __future__ import annotations

from dataclasses import dataclass

# Reason strings: stable identifiers, logged in the access log and shown on the 403 page.
SKIP_AUTH = "skip_auth"
AUTHENTICATED = "authenticated"
UNAUTHENTICATED = "unauthenticated"
EMAIL_NOT_VERIFIED = "email_not_verified"
EMAIL_DOMAIN_NOT_ALLOWED = "email_domain_not_allowed"
GITHUB_ORG_NOT_ALLOWED = "github_org_not_allowed"
GITHUB_TEAM_NOT_ALLOWED = "github_team_not_allowed"
GROUP_NOT_ALLOWED = "not_in_allowed_groups"
EMAIL_NOT_ALLOWED = "email_not_allowed"
PREFLIGHT = "skip_auth_preflight"
BEARER = "bearer_token"  # the session came from an Authorization: Bearer JWT
BEARER_INVALID = "bearer_token_invalid"  # a bearer JWT was presented and refused


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may pass, with the reasons that led there (never empty)."""

    allowed: bool
    reasons: frozenset[str]

    @property
    def unauthenticated(self) -> bool:
        """Refused only because nobody is signed in: the caller should start a login."""
        return not self.allowed and UNAUTHENTICATED in self.reasons

    @property
    def reason(self) -> str:
        """The reasons as one stable, sorted, comma-joined string (for logs and pages)."""
        return ",".join(sorted(self.reasons))


ALLOW_SKIP_AUTH = Decision(True, frozenset({SKIP_AUTH}))
ALLOW_AUTHENTICATED = Decision(True, frozenset({AUTHENTICATED}))
REFUSE_UNAUTHENTICATED = Decision(False, frozenset({UNAUTHENTICATED}))

"""Group criteria: ``github_org`` / ``github_team`` and ``allowed_groups``, checked on the groups claim.

idgate's GitHub connector (like Dex's) emits a group ``org`` for each organisation and ``org:team`` for
each team. ``github_team`` may list several teams separated by commas (OAuth2-Proxy); membership of any
one is enough. Org and team names compare case-insensitively, as GitHub treats them; ``allowed_groups``
compare exactly, as OAuth2-Proxy does.
"""

from __future__ import annotations

from idgate.policy.criteria import Criterion
from idgate.policy.decision import Reason
from idgate.sessions.base import Session

_PASS: tuple[str, ...] = ()
_NO_ORG = (Reason.GITHUB_ORG_NOT_ALLOWED,)
_NO_TEAM = (Reason.GITHUB_TEAM_NOT_ALLOWED,)
_NO_GROUP = (Reason.GROUP_NOT_ALLOWED,)


def github(org: str | None, team: str | None) -> Criterion | None:
    """Require membership of ``org`` (and of one of ``team``); ``None`` when no org is configured."""
    if not org or not org.strip():
        return None
    org_key = org.strip().lower()
    prefix = org_key + ":"
    teams = frozenset(prefix + t.strip().lower() for t in (team or "").split(",") if t.strip())

    def check(session: Session) -> tuple[str, ...]:
        groups = {g.lower() for g in session.groups}
        # A team group implies the org even when a provider emits only ``org:team``.
        if org_key not in groups and not any(g.startswith(prefix) for g in groups):
            return _NO_ORG
        if teams and groups.isdisjoint(teams):
            return _NO_TEAM
        return _PASS

    return check


def allowed_groups(groups: tuple[str, ...]) -> Criterion | None:
    """Require one of ``groups``; ``None`` when the list is empty (no restriction)."""
    wanted = frozenset(g for g in groups if g)
    if not wanted:
        return None

    def check(session: Session) -> tuple[str, ...]:
        return _PASS if not wanted.isdisjoint(session.groups) else _NO_GROUP

    return check

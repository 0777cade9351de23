"""The reason words: one enum, each member its word wherever it is written (logs, labels, pages, JSON)."""

from __future__ import annotations

import json

from idgate.policy.decision import REFUSE_UNAUTHENTICATED, Decision, Reason


def test_reason_words_never_change() -> None:
    """They are in logs, metrics labels, pages and people's alerting rules."""
    assert {r.name: r.value for r in Reason} == {
        "SKIP_AUTH": "skip_auth",
        "PREFLIGHT": "skip_auth_preflight",
        "AUTHENTICATED": "authenticated",
        "UNAUTHENTICATED": "unauthenticated",
        "EMAIL_NOT_VERIFIED": "email_not_verified",
        "EMAIL_DOMAIN_NOT_ALLOWED": "email_domain_not_allowed",
        "GITHUB_ORG_NOT_ALLOWED": "github_org_not_allowed",
        "GITHUB_TEAM_NOT_ALLOWED": "github_team_not_allowed",
        "GROUP_NOT_ALLOWED": "not_in_allowed_groups",
        "EMAIL_NOT_ALLOWED": "email_not_allowed",
        "BEARER": "bearer_token",
        "BEARER_INVALID": "bearer_token_invalid",
        "WEBSOCKET_ORIGIN_NOT_ALLOWED": "websocket_origin_not_allowed",
    }


def test_a_reason_is_its_word_wherever_it_is_written() -> None:
    decision = Decision(False, frozenset({Reason.GROUP_NOT_ALLOWED, "route[1]:" + Reason.EMAIL_NOT_ALLOWED}))
    assert decision.reason == "not_in_allowed_groups,route[1]:email_not_allowed"
    logged = "%s" % Reason.BEARER  # noqa: UP031 - the log lines' own formatting
    assert f"{Reason.BEARER}" == logged == str(Reason.BEARER) == "bearer_token"
    assert json.dumps(sorted(decision.reasons)) == '["not_in_allowed_groups", "route[1]:email_not_allowed"]'
    assert "unauthenticated" in REFUSE_UNAUTHENTICATED.reasons

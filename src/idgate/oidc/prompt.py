"""``prompt`` and ``max_age`` (OpenID Connect Core §3.1.2.1): when a login session may be reused.

- ``prompt=none``: never show a page; without a usable session the answer is ``login_required``.
- ``prompt=login`` (and ``select_account``): authenticate again even when a session exists.
- ``max_age=N``: a session older than N seconds does not count (``max_age=0`` is ``prompt=login``).
- ``prompt=consent``: the approval screen is shown even with ``skipApprovalScreen: true``
  (:mod:`idgate.provider.approval`); with ``prompt=none`` and a screen needed the answer is
  ``consent_required``.
"""

from __future__ import annotations

from idgate.oauth2.errors import InvalidRequest

NONE = "none"
LOGIN = "login"
CONSENT = "consent"
SELECT_ACCOUNT = "select_account"
VALUES = (NONE, LOGIN, CONSENT, SELECT_ACCOUNT)

MAX_MAX_AGE = 10 * 365 * 24 * 3600


def parse_prompt(value: str) -> tuple[str, ...]:
    """The space-separated ``prompt`` values; ``none`` may not be combined with others."""
    values = tuple(dict.fromkeys(value.split()))
    unknown = [v for v in values if v not in VALUES]
    if unknown:
        raise InvalidRequest("unsupported prompt value: " + " ".join(unknown))
    if NONE in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values")
    return values


def parse_max_age(value: str) -> int | None:
    """``max_age`` in seconds (``None`` when absent)."""
    if not value:
        return None
    if not value.isdigit() or int(value) > MAX_MAX_AGE:
        raise InvalidRequest("max_age must be a non-negative number of seconds")
    return int(value)


def session_usable(auth_time: float | None, prompt: tuple[str, ...], max_age: int | None, now: float) -> bool:
    """Whether a login session that authenticated at ``auth_time`` answers this request."""
    if auth_time is None or LOGIN in prompt or SELECT_ACCOUNT in prompt:
        return False
    if max_age is None:
        return True
    return max_age > 0 and now - auth_time <= max_age

"""NumericDate (RFC 7519 §2): the one check of the time claims ``exp``, ``iat`` and ``nbf`` of a JWT.

A NumericDate is a JSON number of seconds since the epoch. RFC 7519 allows fractions; it does not allow
what Python's ``json`` would also hand over: ``true`` (a ``bool`` is an ``int`` in Python), ``NaN`` and
``Infinity`` (``json.loads`` accepts both), or a string. Every ID token the proxy or the ``oidc``
connector verifies, and every bearer JWT the proxy accepts, goes through :func:`token_times`:

===========  ====================================================================================
claim        accepted when
===========  ====================================================================================
``exp``      required; a finite number >= 0, after ``now - leeway`` and at most ``MAX_LIFETIME``
             (+ leeway) after ``now`` (``exp: 1e300`` is refused, not remembered "until exp")
``iat``      required; a finite number >= 0, at most ``leeway`` after ``now``
``nbf``      optional; when present, the same as ``iat``
===========  ====================================================================================

Pure: time is an input. The failures are :class:`BadNumericDate` (a ``ValueError``) naming the claim;
callers translate them into their own error (:class:`~idgate.oidc.client.IdTokenInvalid`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The furthest in the future an ``exp`` may be: a year and a day. Providers issue ID tokens for minutes
#: to a day (Dex: 24 h); a token that claims to last longer is refused, whoever signed it.
MAX_LIFETIME = 366 * 24 * 3600.0
#: Nothing before the epoch, nothing beyond year 9999 (``2**53`` would still be exact; a date is not).
LATEST = 253_402_300_799.0


class BadNumericDate(ValueError):
    """A time claim that is missing, not a NumericDate, or out of range; ``claim`` names it."""

    def __init__(self, claim: str, problem: str) -> None:
        super().__init__(f"{claim} {problem}")
        self.claim = claim
        self.problem = problem


def numeric_date(value: object, claim: str) -> float:
    """``value`` as seconds since the epoch, when it is a NumericDate; else :class:`BadNumericDate`.

    A JSON number only: an ``int`` or a finite ``float``, not a ``bool``, not a string, from 0 to
    :data:`LATEST`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadNumericDate(claim, "is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadNumericDate(claim, "is not a finite number")
    if not 0 <= value <= LATEST:
        raise BadNumericDate(claim, "is out of range")
    return float(value)


@dataclass(frozen=True, slots=True)
class TokenTimes:
    """The checked time claims of one token (seconds since the epoch)."""

    issued_at: float
    expires_at: float


def token_times(
    claims: Mapping[str, Any], *, now: float, leeway: float, max_lifetime: float = MAX_LIFETIME
) -> TokenTimes:
    """``exp``, ``iat`` and ``nbf`` of a verified token's ``claims``, checked against ``now``.

    Raises :class:`BadNumericDate`: ``exp`` missing, malformed, passed (beyond ``leeway``) or more than
    ``max_lifetime`` (+ ``leeway``) ahead; ``iat`` missing, malformed or ahead of ``now`` by more than
    ``leeway``; ``nbf`` malformed or ahead likewise.
    """
    if "exp" not in claims:
        raise BadNumericDate("exp", "is missing")
    exp = numeric_date(claims["exp"], "exp")
    if now >= exp + leeway:
        raise BadNumericDate("exp", "has passed: token expired")
    if exp > now + max_lifetime + leeway:
        raise BadNumericDate("exp", "is too far in the future")
    if "iat" not in claims:
        raise BadNumericDate("iat", "is missing")
    iat = numeric_date(claims["iat"], "iat")
    if iat > now + leeway:
        raise BadNumericDate("iat", "is in the future: token issued in the future")
    nbf = claims.get("nbf")
    if nbf is not None and numeric_date(nbf, "nbf") > now + leeway:
        raise BadNumericDate("nbf", "is in the future: token not yet valid")
    return TokenTimes(iat, exp)

"""NumericDate (RFC 7519 §2): one validator for the time claims of every ID token and bearer JWT."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idgate.oidc.numeric_date import LATEST, MAX_LIFETIME, BadNumericDate, numeric_date, token_times

NOW = 1_800_000_000.0
LEEWAY = 60.0

# What json.loads can hand over for a claim (NaN and Infinity included: Python's json accepts them).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
times = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=NOW - 10 * MAX_LIFETIME, max_value=NOW + 10 * MAX_LIFETIME),
    st.integers(min_value=int(NOW) - 1000, max_value=int(NOW + MAX_LIFETIME) + 1000),
)


@given(json_values)
def test_a_numeric_date_is_a_finite_non_negative_number_and_nothing_else(value: Any) -> None:
    try:
        seconds = numeric_date(value, "exp")
    except BadNumericDate as exc:
        assert exc.claim == "exp" and str(exc).startswith("exp ")
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 <= value <= LATEST
        )
        assert not ok
    else:
        assert type(value) in (int, float) and seconds == value
        assert math.isfinite(seconds) and 0 <= seconds <= LATEST


@given(exp=times, iat=times)
def test_token_times_accepts_exactly_the_live_tokens_of_at_most_a_year(exp: Any, iat: Any) -> None:
    def valid(x: Any) -> bool:
        return not isinstance(x, bool) and math.isfinite(x) and 0 <= x <= LATEST

    expected = (
        valid(exp)
        and valid(iat)
        and exp + LEEWAY > NOW
        and exp <= NOW + MAX_LIFETIME + LEEWAY
        and iat <= NOW + LEEWAY
    )
    try:
        found = token_times({"exp": exp, "iat": iat}, now=NOW, leeway=LEEWAY)
    except BadNumericDate:
        assert not expected
    else:
        assert expected
        assert found.expires_at <= NOW + MAX_LIFETIME + LEEWAY and found.issued_at <= NOW + LEEWAY


@given(st.sampled_from(["true", "false", "NaN", "Infinity", "-Infinity", '"1e300"', "1e300", "-1", "null"]))
def test_what_json_parses_from_a_hostile_token_is_refused(text: str) -> None:
    claims = {"exp": json.loads(text), "iat": NOW}
    with pytest.raises(BadNumericDate, match=r"^exp "):
        token_times(claims, now=NOW, leeway=LEEWAY)


def test_fractions_are_numeric_dates_and_nbf_is_optional() -> None:
    found = token_times({"exp": NOW + 0.5, "iat": NOW - 0.25}, now=NOW, leeway=LEEWAY)
    assert (found.issued_at, found.expires_at) == (NOW - 0.25, NOW + 0.5)
    token_times({"exp": NOW + 60, "iat": NOW, "nbf": NOW + LEEWAY}, now=NOW, leeway=LEEWAY)
    with pytest.raises(BadNumericDate, match="nbf"):
        token_times({"exp": NOW + 60, "iat": NOW, "nbf": NOW + LEEWAY + 1}, now=NOW, leeway=LEEWAY)
    with pytest.raises(BadNumericDate, match="nbf is not a number"):
        token_times({"exp": NOW + 60, "iat": NOW, "nbf": "soon"}, now=NOW, leeway=LEEWAY)


def test_the_longest_lifetime_is_an_input() -> None:
    claims = {"exp": NOW + 7200, "iat": NOW}
    assert token_times(claims, now=NOW, leeway=0).expires_at == NOW + 7200
    with pytest.raises(BadNumericDate, match="too far"):
        token_times(claims, now=NOW, leeway=0, max_lifetime=3600)

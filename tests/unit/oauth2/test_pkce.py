from __future__ import annotations

import pytest

from idgate.oauth2 import pkce
from idgate.oauth2.errors import InvalidGrant, InvalidRequest

# RFC 7636 Appendix B
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_s256_matches_the_rfc_example() -> None:
    assert pkce.s256(VERIFIER) == CHALLENGE


def test_matching_verifier_passes() -> None:
    pkce.verify(VERIFIER, CHALLENGE, "S256")


def test_wrong_verifier_is_invalid_grant() -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify("x" * 43, CHALLENGE, "S256")


def test_missing_verifier_when_a_challenge_was_sent_is_invalid_grant() -> None:
    with pytest.raises(InvalidGrant, match="required"):
        pkce.verify("", CHALLENGE, "S256")


def test_verifier_without_challenge_is_refused() -> None:
    with pytest.raises(InvalidGrant, match="no challenge"):
        pkce.verify(VERIFIER, "", "")


def test_no_pkce_at_all_passes_the_verifier_check() -> None:
    pkce.verify("", "", "")


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "a" * 42 + " ", "é" * 43])
def test_malformed_verifiers_are_refused(verifier: str) -> None:
    with pytest.raises(InvalidGrant):
        pkce.verify(verifier, CHALLENGE, "S256")


def test_plain_method_is_refused_at_the_authorization_endpoint() -> None:
    with pytest.raises(InvalidRequest, match="S256"):
        pkce.check_challenge(VERIFIER, "plain")


def test_missing_method_means_plain_and_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        pkce.check_challenge(CHALLENGE, "")


def test_method_without_challenge_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        pkce.check_challenge("", "S256")


def test_challenge_must_look_like_a_sha256() -> None:
    with pytest.raises(InvalidRequest):
        pkce.check_challenge("abc", "S256")
    pkce.check_challenge(CHALLENGE, "S256")

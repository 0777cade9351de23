"""Proof Key for Code Exchange (RFC 7636), ``S256`` only (``plain`` is refused, as OAuth 2.1 asks).

The challenge is checked when the authorization request arrives (:func:`check_challenge`) and the
verifier when the code is redeemed (:func:`verify`). A verifier without a challenge, or a challenge
without a verifier, is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from idgate.oauth2.errors import InvalidGrant, InvalidRequest

S256 = "S256"
METHODS = (S256,)

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# base64url(sha256) without padding is exactly 43 characters.
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def s256(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_challenge(challenge: str, method: str) -> None:
    """Refuse an unusable challenge at the authorization endpoint (``invalid_request``)."""
    if not challenge:
        if method:
            raise InvalidRequest("code_challenge_method without code_challenge")
        return
    if (method or "plain") not in METHODS:
        raise InvalidRequest("code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be 43 characters of base64url")


def verify(verifier: str, challenge: str, method: str) -> None:
    """Check the token request's ``code_verifier`` against what the code was issued for."""
    if not challenge:
        if verifier:
            raise InvalidGrant("code_verifier sent but the authorization request had no challenge")
        return
    if not verifier:
        raise InvalidGrant("code_verifier required")
    if method != S256 or not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier is malformed")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")

"""One-time codes for a second factor: TOTP (RFC 6238) over HOTP (RFC 4226), and recovery codes.

Pure: the time and the randomness are inputs; nothing here touches storage or the web.

- :func:`hotp` is RFC 4226 §5.3 (dynamic truncation of an HMAC over the 8-byte counter); :func:`totp`
  is RFC 6238 §4 (the counter is the number of ``period``-second steps since the epoch). SHA-1, SHA-256
  and SHA-512, 6 or 8 digits, so RFC 6238 Appendix B's vectors check all three; idgate enrols SHA-1,
  6 digits, 30 s, which every authenticator app reads from the ``otpauth://`` URI
  (:func:`provisioning_uri`).
- :func:`match_step` accepts a code of the current step or one step either side (RFC 6238 §5.2: clock
  drift and the time the person takes to type), compares in constant time, and refuses a code whose
  step is not after ``last_step``, the step of the last code accepted: a code works once, and so does
  every earlier one (RFC 6238 §5.2, "the verifier MUST NOT accept the second attempt of the same OTP").
- Recovery codes (:func:`new_recovery_codes`) are ``xxxx-xxxx-xxxx`` in lower-case base32: 60 random
  bits each. Only their SHA-256 is kept (:func:`recovery_hash`); :func:`match_recovery_code` finds a
  typed one (with or without dashes, any case) among the hashes in constant time per hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlencode

__all__ = [
    "ALGORITHMS",
    "DIGITS",
    "PERIOD",
    "WINDOW",
    "hotp",
    "is_totp_code",
    "match_recovery_code",
    "match_step",
    "new_recovery_codes",
    "new_secret",
    "normalise_recovery_code",
    "provisioning_uri",
    "recovery_hash",
    "secret_bytes",
    "step_of",
    "totp",
]

#: The ``algorithm`` of an ``otpauth://`` URI -> the HMAC's hash (RFC 6238 §1.2).
ALGORITHMS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
PERIOD = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
SECRET_BYTES = 20  # RFC 4226 §4 R6 recommends 160 bits, the length of a SHA-1 output
RECOVERY_CODES = 10
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # base32 (RFC 4648 §6), lower case: 5 bits a character


# -- secrets ------------------------------------------------------------------------------------


def new_secret(random: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh shared secret: 20 random bytes in base32 without padding (32 characters)."""
    return base64.b32encode(random(SECRET_BYTES)).decode("ascii").rstrip("=")


def secret_bytes(secret: str) -> bytes:
    """The key of a base32 ``secret`` (spaces, case and missing padding tolerated); ``ValueError``."""
    cleaned = "".join(secret.split()).upper().rstrip("=")
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not base32") from None
    if not key:
        raise ValueError("the secret is empty")
    return key


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/ISSUER:ACCOUNT?secret=...`` URI an authenticator app reads (as a QR code)."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='@')}"
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": str(DIGITS),
            "period": str(PERIOD),
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


# -- codes --------------------------------------------------------------------------------------


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """RFC 4226 §5.3: the ``digits``-digit code of ``counter`` (zero-padded)."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), ALGORITHMS[algorithm]).digest()
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def step_of(now: float, period: int = PERIOD) -> int:
    """RFC 6238 §4.2: the time step of ``now`` (epoch seconds; T0 = 0)."""
    return math.floor(now / period)


def totp(
    key: bytes, now: float, *, period: int = PERIOD, digits: int = DIGITS, algorithm: str = "SHA1"
) -> str:
    """RFC 6238 §4: the code at ``now``."""
    return hotp(key, step_of(now, period), digits=digits, algorithm=algorithm)


def is_totp_code(typed: str, digits: int = DIGITS) -> bool:
    """Whether ``typed`` (spaces ignored) has the shape of a code: ``digits`` ASCII digits."""
    code = "".join(typed.split())
    return len(code) == digits and code.isascii() and code.isdigit()


def match_step(
    key: bytes,
    typed: str,
    now: float,
    *,
    last_step: int,
    window: int = WINDOW,
    period: int = PERIOD,
    digits: int = DIGITS,
    algorithm: str = "SHA1",
) -> int | None:
    """The step (within ``window`` of ``now``'s, and after ``last_step``) whose code ``typed`` is.

    ``None`` for a wrong code and for a replay (a code of ``last_step`` or earlier). Every step of the
    window is computed and compared in constant time, whatever matches.
    """
    if not is_totp_code(typed, digits):
        return None
    code = "".join(typed.split()).encode("ascii")
    current = step_of(now, period)
    found: int | None = None
    for step in range(max(0, current - window), current + window + 1):
        expected = hotp(key, step, digits=digits, algorithm=algorithm).encode("ascii")
        if hmac.compare_digest(expected, code) and step > last_step and found is None:
            found = step
    return found


# -- recovery codes -----------------------------------------------------------------------------


def new_recovery_codes(
    count: int = RECOVERY_CODES, choice: Callable[[str], str] = secrets.choice
) -> tuple[str, ...]:
    """``count`` fresh recovery codes, ``xxxx-xxxx-xxxx`` (60 random bits each)."""
    return tuple(
        "-".join(
            "".join(choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
            for _ in range(RECOVERY_GROUPS)
        )
        for _ in range(count)
    )


def normalise_recovery_code(typed: str) -> str:
    """A typed recovery code without spaces and dashes, in lower case."""
    return "".join(typed.split()).replace("-", "").lower()


def recovery_hash(code: str) -> str:
    """What is stored of a recovery code: the hex SHA-256 of its normalised form."""
    return hashlib.sha256(normalise_recovery_code(code).encode("utf-8")).hexdigest()


def match_recovery_code(hashes: Sequence[str], typed: str) -> int | None:
    """The index in ``hashes`` of the recovery code ``typed``, or ``None``; each hash is compared in
    constant time, and all of them are."""
    code = normalise_recovery_code(typed)
    if len(code) != RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH or any(c not in RECOVERY_ALPHABET for c in code):
        return None
    digest = recovery_hash(code).encode("ascii")
    found: int | None = None
    for index, stored in enumerate(hashes):
        if hmac.compare_digest(stored.encode("ascii"), digest) and found is None:
            found = index
    return found

"""TOTP (RFC 6238) over HOTP (RFC 4226), the verification window, replays and recovery codes: the pure
core of the second factor (``idgate.provider.totp``)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from idgate.provider import totp

# RFC 6238 Appendix B: the seeds are these ASCII strings (20, 32 and 64 bytes).
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [  # (time, SHA1, SHA256, SHA512), 8 digits, 30 s steps
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
# RFC 4226 Appendix D: HOTP of the 20-byte SHA-1 seed for counters 0..9.
RFC4226 = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]

KEY = SEEDS["SHA1"]
NOW = 1_800_000_000.0  # step 60 000 000 exactly


@pytest.mark.parametrize(
    ("now", "algorithm", "expected"),
    [(row[0], alg, row[i + 1]) for row in RFC6238 for i, alg in enumerate(("SHA1", "SHA256", "SHA512"))],
)
def test_rfc6238_appendix_b_vectors(now: int, algorithm: str, expected: str) -> None:
    assert totp.totp(SEEDS[algorithm], now, digits=8, algorithm=algorithm) == expected


def test_rfc4226_appendix_d_hotp_values() -> None:
    assert [totp.hotp(KEY, counter) for counter in range(10)] == RFC4226


def test_a_new_secret_is_160_random_bits_in_base32() -> None:
    secret = totp.new_secret(lambda n: bytes(range(n)))
    assert len(secret) == 32 and "=" not in secret
    assert totp.secret_bytes(secret) == bytes(range(20))
    assert totp.secret_bytes(secret.lower()[:16] + " " + secret[16:]) == bytes(range(20))
    assert totp.new_secret() != totp.new_secret()
    with pytest.raises(ValueError, match="base32"):
        totp.secret_bytes("not base32!")


def test_provisioning_uri_names_issuer_account_and_parameters() -> None:
    secret = base64.b32encode(KEY).decode()
    uri = totp.provisioning_uri(secret, account="jane@example.com", issuer="Example Corp")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Example Corp:jane@example.com"
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "secret": secret,
        "issuer": "Example Corp",
        "algorithm": "SHA1",
        "digits": "6",
        "period": "30",
    }


def test_the_code_of_now_and_one_step_either_side_is_accepted() -> None:
    step = totp.step_of(NOW)
    for offset in (-1, 0, 1):
        code = totp.hotp(KEY, step + offset)
        assert totp.match_step(KEY, code, NOW, last_step=-1) == step + offset
    for offset in (-2, 2):
        assert totp.match_step(KEY, totp.hotp(KEY, step + offset), NOW, last_step=-1) is None


def test_a_code_is_refused_at_or_before_the_last_accepted_step() -> None:
    step = totp.step_of(NOW)
    code = totp.totp(KEY, NOW)
    assert totp.match_step(KEY, code, NOW, last_step=step - 1) == step
    assert totp.match_step(KEY, code, NOW, last_step=step) is None  # the same code again: a replay
    assert totp.match_step(KEY, totp.hotp(KEY, step - 1), NOW, last_step=step) is None  # an older one
    assert totp.match_step(KEY, totp.hotp(KEY, step + 1), NOW, last_step=step) == step + 1


def test_only_six_ascii_digits_are_a_code() -> None:
    code = totp.totp(KEY, NOW)
    assert totp.match_step(KEY, f" {code[:3]} {code[3:]} ", NOW, last_step=-1) is not None
    for typed in ("", code[:5], code + "0", "abcdef", "١٢٣٤٥٦", code[:5] + "x"):
        assert not totp.is_totp_code(typed)
        assert totp.match_step(KEY, typed, NOW, last_step=-1) is None


def test_recovery_codes_have_60_bits_and_only_their_hashes_match() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]  # 12 base32 characters: 60 bits
        assert all(c in totp.RECOVERY_ALPHABET for c in "".join(groups))
    hashes = [totp.recovery_hash(c) for c in codes]
    assert all(h not in codes and len(h) == 64 for h in hashes)
    assert totp.match_recovery_code(hashes, codes[3]) == 3
    assert totp.match_recovery_code(hashes, codes[3].upper().replace("-", "")) == 3  # any case, no dashes
    assert totp.match_recovery_code(hashes, " " + codes[7].replace("-", " - ") + " ") == 7
    assert totp.match_recovery_code(hashes, "aaaa-aaaa-aaab") is None
    assert totp.match_recovery_code(hashes, codes[3] + "a") is None
    assert totp.match_recovery_code(hashes[:3], codes[3]) is None  # a used (removed) code

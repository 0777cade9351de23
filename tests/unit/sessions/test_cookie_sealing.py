"""Sealed session cookies: what opens, what does not, and how sessions are split into chunks."""

from __future__ import annotations

import base64
import random
import string
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idgate.clock import FrozenClock
from idgate.sessions.base import Session
from idgate.sessions.cookie_store import CookieSessions
from idgate.sessions.sealing import (
    DEFLATE_ABOVE,
    DEFLATED,
    MAX_CHUNKS,
    MAX_COOKIE_VALUE,
    MAX_INFLATED,
    Sealer,
    SessionTooLarge,
    chunk_names,
    deflate,
    derive_key,
    inflate,
    join_chunks,
    split_chunks,
)
from idgate.settings import ProxySettings

KEY = b"0123456789abcdef0123456789abcdef"


def proxy(**kw: object) -> ProxySettings:
    base: dict[str, object] = dict(
        name="grafana",
        host="grafana.example.com",
        upstream="http://grafana:3000",
        issuer_url="https://kkp.example.com/dex",
        client_id="grafana",
        client_secret="s",
        encryption_key=KEY,
    )
    base.update(kw)
    return ProxySettings(**base)  # type: ignore[arg-type]


def session(now: float, **kw: object) -> Session:
    base: dict[str, object] = dict(
        user="CiQwOGE4",
        email="a@example.com",
        email_verified=True,
        created_at=now,
        expires_at=now + 3600,
        preferred_username="admin",
        groups=("org", "org:team"),
        sid="sid-1",
    )
    base.update(kw)
    return Session(**base)  # type: ignore[arg-type]


def test_sealed_value_opens_under_its_name_only() -> None:
    sealer = Sealer([KEY], "session")
    sealed = sealer.seal(b"payload", "grafana_oauth2_proxy")
    assert sealer.open(sealed, "grafana_oauth2_proxy") == b"payload"
    assert sealer.open(sealed, "prometheus_oauth2_proxy") is None


def test_each_purpose_has_its_own_key() -> None:
    sealed = Sealer([KEY], "csrf").seal(b"x", "n")
    assert Sealer([KEY], "session").open(sealed, "n") is None
    assert derive_key(KEY, "csrf") != derive_key(KEY, "session") != KEY


def test_nonce_is_fresh_for_every_seal() -> None:
    sealer = Sealer([KEY], "session")
    assert sealer.seal(b"same", "n") != sealer.seal(b"same", "n")


def test_rotation_seals_with_newest_and_opens_with_any() -> None:
    old, new = b"o" * 32, b"n" * 32
    sealed_old = Sealer([old], "session").seal(b"v", "c")
    rotated = Sealer([new, old], "session")
    assert rotated.open(sealed_old, "c") == b"v"
    assert Sealer([new], "session").open(rotated.seal(b"w", "c"), "c") == b"w"


@pytest.mark.parametrize(
    "value",
    ["", "!!!", "A" * 10, "AAAA" * 8, base64.urlsafe_b64encode(b"\0" * 40).decode(), "x" * 40_000],
)
def test_garbage_never_opens(value: str) -> None:
    assert Sealer([KEY], "session").open(value, "c") is None


def test_only_base64url_without_padding_opens() -> None:
    """Characters outside base64url are refused, not skipped: a value with junk in it never opens."""
    sealer = Sealer([KEY], "session", random=lambda n: b"\xfb" * n)  # a nonce that encodes to "-_v7..."
    sealed = sealer.seal(b"payload", "c")
    assert sealed.startswith("-_v7") and len(sealed) % 4 == 3
    assert sealer.open(sealed, "c") == b"payload"
    for bad in (
        sealed[:9] + "!" + sealed[9:],
        sealed[:9] + " " + sealed[9:],
        sealed[:9] + "\n" + sealed[9:],
        sealed[:9] + "." + sealed[9:],
        sealed + "\n",
        sealed + "=",  # padded
        sealed.replace("-", "+").replace("_", "/"),  # the standard alphabet
        sealed[:-1],
        sealed + "é",
    ):
        assert sealer.open(bad, "c") is None, bad


@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=200))
def test_any_flipped_byte_is_refused(payload: bytes, position: int) -> None:
    sealer = Sealer([KEY], "session")
    raw = bytearray(base64.urlsafe_b64decode(sealer.seal(payload, "c") + "=="))
    raw[position % len(raw)] ^= 0x01
    assert sealer.open(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="), "c") is None


def test_long_values_are_chunked_and_reassembled() -> None:
    value = "v" * (MAX_COOKIE_VALUE * 2 + 10)
    pieces = split_chunks("s", value)
    assert [n for n, _ in pieces] == ["s_0", "s_1", "s_2"]
    assert all(len(v) <= MAX_COOKIE_VALUE for _, v in pieces)
    jar = dict(pieces) | {"other": "1", "s_x": "2"}
    assert join_chunks(jar, "s") == value
    assert sorted(chunk_names(jar, "s")) == ["s_0", "s_1", "s_2"]
    assert split_chunks("s", "short") == [("s", "short")]


def test_session_round_trips_through_the_cookie_store() -> None:
    clock = FrozenClock()
    store = CookieSessions(proxy(), clock)
    original = session(clock.now())
    cookies = dict(store.save(original))
    assert list(cookies) == ["grafana_oauth2_proxy"]
    assert store.load(cookies) == original


def test_expired_session_is_no_session() -> None:
    clock = FrozenClock()
    store = CookieSessions(proxy(), clock)
    cookies = dict(store.save(session(clock.now())))
    clock.advance(3599)
    assert store.load(cookies) is not None
    clock.advance(1)
    assert store.load(cookies) is None


def test_cookie_from_another_deployment_does_not_open() -> None:
    clock = FrozenClock()
    grafana = CookieSessions(proxy(), clock)
    value = dict(grafana.save(session(clock.now())))["grafana_oauth2_proxy"]
    other = CookieSessions(proxy(name="prometheus"), clock)
    assert other.load({"prometheus_oauth2_proxy": value}) is None


def test_other_key_does_not_open() -> None:
    clock = FrozenClock()
    value = dict(CookieSessions(proxy(), clock).save(session(clock.now())))
    assert CookieSessions(proxy(encryption_key=b"x" * 32), clock).load(value) is None


def random_groups(n: int) -> tuple[str, ...]:
    """``n`` group names that deflate about as badly as names can (random letters and digits)."""
    rnd = random.Random(n)
    return tuple("".join(rnd.choices(string.ascii_lowercase + string.digits, k=8)) for _ in range(n))


def test_large_sessions_are_split_into_chunks() -> None:
    clock = FrozenClock()
    store = CookieSessions(proxy(), clock)
    big = session(clock.now(), groups=random_groups(1000))
    cookies = dict(store.save(big))
    assert len(cookies) > 1 and all(k.startswith("grafana_oauth2_proxy_") for k in cookies)
    assert store.load(cookies) == big
    assert sorted(store.names_to_clear(cookies | {"unrelated": "1"})) == sorted(cookies)


def test_session_bytes_reject_non_sessions() -> None:
    for raw in (b"", b"[]", b'{"u": 1}', b'{"u":"a","e":"b","v":true,"c":1,"x":2,"g":"admins"}'):
        with pytest.raises(ValueError):
            Session.from_bytes(raw)


def test_email_verified_must_be_literally_true() -> None:
    raw = b'{"u":"a","e":"b","v":"true","c":1,"x":2}'
    assert Session.from_bytes(raw).email_verified is False


# -- deflated sessions ----------------------------------------------------------------------------------
def opened_plaintext(store: CookieSessions, value: str) -> bytes:
    plain = Sealer([KEY], "session").open(value, store.name)
    assert plain is not None
    return plain


def test_a_small_session_is_sealed_as_before_and_a_cookie_sealed_before_deflating_still_opens() -> None:
    clock = FrozenClock()
    store = CookieSessions(proxy(), clock)
    small = session(clock.now())
    assert opened_plaintext(store, store.seal(small)) == small.to_bytes()  # not deflated: no cost to open
    for s in (small, session(clock.now(), groups=random_groups(2000))):
        old = Sealer([KEY], "session").seal(s.to_bytes(), store.name)  # as idgate sealed before deflating
        assert store.open(old, clock.now()) == s


def test_a_large_session_is_deflated_and_takes_half_the_cookies() -> None:
    clock = FrozenClock()
    store = CookieSessions(proxy(), clock)
    big = session(clock.now(), groups=random_groups(2000))
    value = store.seal(big)
    plain = opened_plaintext(store, value)
    assert plain[0] == DEFLATED and zlib.decompress(plain[1:], -15) == big.to_bytes()
    undeflated = Sealer([KEY], "session").seal(big.to_bytes(), store.name)
    assert len(value) < 0.6 * len(undeflated)
    assert len(split_chunks(store.name, value)) == 5 and len(split_chunks(store.name, undeflated)) == 8
    assert store.open(value, clock.now()) == big


def test_deflate_only_pays_above_the_threshold() -> None:
    assert deflate(b"{" + b"a" * (DEFLATE_ABOVE - 1)) == b"{" + b"a" * (DEFLATE_ABOVE - 1)
    assert deflate(b"{" + b"a" * DEFLATE_ABOVE)[0] == DEFLATED
    incompressible = b"{" + random.Random(1).randbytes(4 * DEFLATE_ABOVE)
    assert deflate(incompressible) == incompressible


def test_a_deflated_plaintext_that_is_malformed_unfinished_or_too_large_opens_as_nothing() -> None:
    whole = deflate(b"{" + b"x" * 5000)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    huge = bytes((DEFLATED,)) + bomb.compress(b" " * (MAX_INFLATED + 1)) + bomb.flush()
    for bad in (whole[:-3], whole + b"tail", bytes((DEFLATED,)) + b"not deflate", huge):
        assert inflate(bad) is None
    assert inflate(b"") == b"" and inflate(whole) == b"{" + b"x" * 5000


def test_a_session_no_cookie_can_hold_raises_session_too_large() -> None:
    clock = FrozenClock()
    store = CookieSessions(proxy(), clock)
    with pytest.raises(SessionTooLarge) as caught:
        store.save(session(clock.now(), groups=random_groups(8000)))
    assert caught.value.size > caught.value.limit == MAX_CHUNKS * MAX_COOKIE_VALUE
    assert str(caught.value).startswith(f"session of {caught.value.size} bytes sealed is more than 8 cookies")
    with pytest.raises(SessionTooLarge):
        split_chunks("s", "v" * (MAX_CHUNKS * MAX_COOKIE_VALUE + 1))

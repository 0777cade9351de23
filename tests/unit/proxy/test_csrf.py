"""The sign-in state cookie: round trip, tampering, expiry and purpose separation."""

from __future__ import annotations

import base64
import hashlib

from idgate.clock import FrozenClock
from idgate.proxy.csrf import LOGIN_TTL, LoginState, LoginStateCookie
from idgate.sessions.base import Session
from idgate.sessions.cookie_store import CookieSessions
from idgate.settings import ProxySettings

KEY = b"0123456789abcdef0123456789abcdef"


def proxy(name: str = "grafana", key: bytes = KEY) -> ProxySettings:
    return ProxySettings(
        name=name,
        host=f"{name}.example.com",
        upstream="http://up:80",
        issuer_url="https://kkp.example.com/dex",
        client_id=name,
        client_secret="s",
        encryption_key=key,
    )


def test_round_trip() -> None:
    clock = FrozenClock()
    jar = LoginStateCookie(proxy())
    login = LoginState.new(rd="/dash?x=1", now=clock.now())
    opened = jar.open(jar.seal(login), now=clock.now())
    assert opened == login
    assert jar.load({jar.name: jar.seal(login)}, now=clock.now()) == login
    assert jar.name == "grafana_oauth2_proxy_csrf"


def test_fresh_values_are_random_and_long() -> None:
    a, b = LoginState.new(rd="/", now=0), LoginState.new(rd="/", now=0)
    assert len({a.state, a.nonce, a.verifier, b.state}) == 4
    assert len(base64.urlsafe_b64decode(a.state + "=")) == 32


def test_pkce_s256_matches_rfc7636_appendix_b() -> None:
    state = LoginState("s", "n", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "/", 0)
    assert state.code_challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"v").digest()).rstrip(b"=").decode()
    assert LoginState("s", "n", "v", "/", 0).code_challenge == expected


def test_tampered_value_does_not_open() -> None:
    jar = LoginStateCookie(proxy())
    sealed = jar.seal(LoginState.new(rd="/", now=0))
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    assert jar.open(flipped, now=0) is None
    assert jar.open("", now=0) is None
    assert jar.open("not base64 !", now=0) is None
    assert jar.load({}, now=0) is None


def test_expires_after_fifteen_minutes() -> None:
    clock = FrozenClock()
    jar = LoginStateCookie(proxy())
    sealed = jar.seal(LoginState.new(rd="/", now=clock.now()))
    clock.advance(LOGIN_TTL - 1)
    assert jar.open(sealed, now=clock.now()) is not None
    clock.advance(1)
    assert jar.open(sealed, now=clock.now()) is None


def test_other_deployment_or_key_cannot_open() -> None:
    sealed = LoginStateCookie(proxy()).seal(LoginState.new(rd="/", now=0))
    assert LoginStateCookie(proxy(name="other")).open(sealed, now=0) is None
    assert LoginStateCookie(proxy(key=b"f" * 32)).open(sealed, now=0) is None


def test_session_and_csrf_values_are_not_interchangeable() -> None:
    p, clock = proxy(), FrozenClock()
    sessions, jar = CookieSessions(p, clock), LoginStateCookie(p)
    session = Session("u", "u@x", True, clock.now(), clock.now() + 60)
    [(_, session_value)] = sessions.save(session)
    assert jar.open(session_value, now=clock.now()) is None
    # Even under the session cookie's name, a CSRF value sealed for its purpose does not open.
    csrf_value = jar.seal(LoginState.new(rd="/", now=clock.now()))
    assert sessions.load({sessions.name: csrf_value}) is None


def test_state_comparison() -> None:
    login = LoginState.new(rd="/", now=0)
    assert login.matches(login.state)
    assert not login.matches(login.state[:-1])
    assert not login.matches("")

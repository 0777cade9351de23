"""The cookie session store runs the session-store conformance suite."""

from __future__ import annotations

from tests.conformance.sessions import SessionStoreConformance

from idgate.clock import FrozenClock
from idgate.sessions.base import SessionStore
from idgate.sessions.cookie_store import CookieSessions
from idgate.settings import ProxySettings


class TestCookieStore(SessionStoreConformance):
    def make_store(self, proxy: ProxySettings, clock: FrozenClock) -> SessionStore:
        return CookieSessions(proxy, clock)

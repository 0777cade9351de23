"""Proxy sessions: the record and the store protocol (:mod:`.base`), and the stores that keep them.

- :mod:`.sealing` + :mod:`.cookie_store`: the session sealed into the cookie (default), keys rotate;
- :mod:`.ticket` + :mod:`.redis_store`: a ticket in the cookie, the sealed session in Redis with a TTL;
- :mod:`.refresh`: refreshing after ``cookie_refresh`` with the refresh token, single flight;
- :mod:`.revocations`: the ids of signed-out sessions, shared through storage, refused by every process.

:func:`open_store` is the one registry: ``session_store`` ``cookie`` or a ``redis://`` URL.
"""

from __future__ import annotations

from idgate.clock import Clock
from idgate.sessions.base import SessionStore
from idgate.sessions.revocations import Revocations
from idgate.settings import ProxySettings


def open_store(proxy: ProxySettings, clock: Clock, revocations: Revocations | None = None) -> SessionStore:
    """The session store ``proxy.session_store`` names; cookie sessions are revoked on ``revocations``
    (Redis sessions are deleted instead)."""
    if proxy.session_store.startswith(("redis://", "rediss://")):
        from idgate.sessions.redis_store import RedisSessions

        return RedisSessions(proxy, proxy.session_store)
    from idgate.sessions.cookie_store import CookieSessions

    return CookieSessions(proxy, clock, revocations)


__all__ = ["SessionStore", "open_store"]

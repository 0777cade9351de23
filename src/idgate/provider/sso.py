"""The provider's login session (single sign-on): one cookie, one :class:`LoginSession` record.

After a login, the browser holds ``idgate_session`` (a random secret; storage keeps its SHA-256). A later
``/auth`` from any client finds the session and, unless ``prompt``/``max_age`` ask for a fresh login
(:mod:`idgate.oidc.prompt`) or the client may not use the session's connector, answers at once without a
password. ``auth_time`` in ID tokens is the session's login time. Logout ends the session and every
refresh token family it started (:func:`idgate.oauth2.revocation.revoke_session`).

Device logins (RFC 8628) never reuse a session: typing the password is the person's confirmation that
the code on their screen is theirs (RFC 8628 §5.4, remote phishing).
"""

from __future__ import annotations

import contextlib
import re
import secrets

from idgate.errors import NotFound
from idgate.oauth2.revocation import revoke_session
from idgate.storage.base import Claims, LoginSession, Storage, secret_id

COOKIE = "idgate_session"
_VALUE = re.compile(r"[A-Za-z0-9_\-]{43}")


class Sessions:
    """Login sessions in ``storage``, living ``ttl`` seconds from the login."""

    def __init__(self, storage: Storage, ttl: float) -> None:
        self._storage = storage
        self.ttl = ttl

    async def current(self, cookie: str, now: float) -> LoginSession | None:
        """The live session of this cookie, if any."""
        if not _VALUE.fullmatch(cookie):
            return None
        try:
            session = await self._storage.get(LoginSession, secret_id(cookie))
        except NotFound:
            return None
        return session if now < session.expires_at else None

    async def start(
        self, *, connector_id: str, claims: Claims, connector_data: str, now: float, replaces: str = ""
    ) -> tuple[str, LoginSession]:
        """A new session after a fresh login: its cookie value and record. The cookie's old session
        (``replaces``) is dropped; what it started stays valid until it expires or is revoked."""
        if replaces and _VALUE.fullmatch(replaces):
            with contextlib.suppress(NotFound):
                await self._storage.delete(LoginSession, secret_id(replaces))
        cookie = secrets.token_urlsafe(32)
        session = LoginSession(
            id=secret_id(cookie),
            connector_id=connector_id,
            claims=claims,
            connector_data=connector_data,
            auth_time=now,
            expires_at=now + self.ttl,
        )
        await self._storage.create(session)
        return cookie, session

    async def end(self, session: LoginSession) -> None:
        """Logout: the session, and the refresh tokens and access tokens it started."""
        with contextlib.suppress(NotFound):
            await self._storage.delete(LoginSession, session.id)
        await revoke_session(self._storage, session.id)

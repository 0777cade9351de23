"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at ``{path}/logout``.

- ``post_logout_redirect_uri`` is followed only when it is registered for the client
  (``postLogoutRedirectURIs``, exact match) and the client is known (from ``client_id`` or the
  ``id_token_hint``'s ``azp``/``aud``); otherwise it is never followed: the logout still happens and
  the signed-out page is shown. ``state`` is echoed.
- With a valid ``id_token_hint`` (signed by this provider; it may have expired) whose subject is the
  session's, logout happens at once. Without one, the person confirms on a page (§2: the OP should ask),
  whose form carries a value bound to this browser, so another site cannot log a person out.
- Logout ends the login session, its refresh token families and access tokens, and clears the cookie.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from idgate.clock import Clock
from idgate.oauth2 import client_auth
from idgate.oauth2.errors import BackLink, InvalidRequest
from idgate.oauth2.redirect_uris import add_query, application_home
from idgate.oauth2.requests import LogoutRequest
from idgate.oidc import id_token
from idgate.oidc.keys import KeyRing
from idgate.oidc.subject import encode_subject
from idgate.provider.outcomes import ConfirmLogout, LoggedOut
from idgate.provider.sso import Sessions
from idgate.storage.base import Client

ClientLookup = Callable[[str], Awaitable[Client | None]]


def logout_csrf(browser: str) -> str:
    """The confirmation value bound to this browser's cookie."""
    return hashlib.sha256(b"idgate-logout\x00" + browser.encode()).hexdigest()[:32]


class Logouts:
    def __init__(self, keys: KeyRing, sessions: Sessions, clock: Clock, lookup: ClientLookup) -> None:
        self.keys = keys
        self.sessions = sessions
        self.clock = clock
        self.lookup = lookup

    async def _hint(self, token: str) -> dict[str, Any] | None:
        if not token:
            return None
        try:
            return id_token.verify(token, await self.keys.current())
        except ValueError:
            raise InvalidRequest("id_token_hint is not an ID token of this provider") from None

    async def logout(
        self, request: LogoutRequest, browser: str, session_cookie: str, confirmed: str
    ) -> LoggedOut | ConfirmLogout:
        hint = await self._hint(request.id_token_hint)
        client_id = request.client_id
        if hint is not None:
            aud = hint.get("aud")
            audiences = aud if isinstance(aud, list) else [aud]
            azp = hint.get("azp") or (audiences[-1] if audiences else "")
            if client_id and client_id not in audiences and client_id != azp:
                raise InvalidRequest("client_id does not match the id_token_hint")
            client_id = client_id or str(azp)
        redirect_to: str | None = None
        client = await self.lookup(client_id) if client_id else None
        home = application_home(client.redirect_uris) if client is not None else None
        # An unregistered target (or no known client) is never followed (§3: the OP MUST NOT
        # redirect); the person is still signed out and sees the signed-out page instead. A KKP values
        # file registers no postLogoutRedirectURIs, and signing out must still end the login there.
        wanted = request.post_logout_redirect_uri
        if client is not None and wanted and wanted in client.post_logout_redirect_uris:
            params = {"state": request.state} if request.state else {}
            redirect_to = (
                add_query(request.post_logout_redirect_uri, params)
                if params
                else request.post_logout_redirect_uri
            )
        app = BackLink(client.name or client.id, home) if client is not None and home else None
        back = app if wanted and redirect_to is None else None
        session = await self.sessions.current(session_cookie, self.clock.now())
        matches = hint is not None and (
            session is None or hint.get("sub") == encode_subject(session.claims.user_id, session.connector_id)
        )
        csrf = logout_csrf(browser) if browser else ""
        if not matches and not (csrf and confirmed and client_auth.secrets_equal(confirmed, csrf)):
            if session is None:  # nothing to end: no need to ask
                return LoggedOut(redirect_to, back=back)
            return ConfirmLogout(
                csrf=csrf,
                post_logout_redirect_uri=request.post_logout_redirect_uri,
                client_id=client_id,
                state=request.state,
                back=app,
            )
        if session is not None:
            await self.sessions.end(session)
        return LoggedOut(redirect_to, back=back)

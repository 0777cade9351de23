"""The resource owner password credentials grant (RFC 6749 §4.3), Dex's ``passwordConnector``.

Off unless ``dex.oauth2.passwordConnector`` names a connector that checks passwords; the client must
authenticate. RFC 9700 §2.4 advises against this grant; it exists for tools that cannot open a browser.
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from idgate.oauth2.grants.base import Grant, GrantContext
from idgate.oauth2.requests import TokenRequest
from idgate.storage.base import Client


class PasswordGrant:
    """``grant_type=password``."""

    grant_type: ClassVar[str] = "password"

    async def exchange(self, ctx: GrantContext, client: Client, request: TokenRequest) -> Grant:
        if ctx.password_login is None:
            raise UnauthorizedClient("the password grant is not enabled")
        if not request.username or not request.password:
            raise InvalidRequest("username and password are required")
        scopes = request.scopes or (scope_names.OPENID,)
        scope_names.check(scopes)
        found = await ctx.password_login(scopes, request.username, request.password)
        if found is None:
            raise InvalidGrant("invalid username or password")
        connector_id, claims, data = found
        return Grant(
            client_id=client.id,
            scopes=scopes,
            claims=claims,
            connector_id=connector_id,
            auth_time=ctx.now,
            connector_data=data,
            grant_id=secrets.token_urlsafe(18),
        )

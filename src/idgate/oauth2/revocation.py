"""Ending what a grant issued: RFC 7009 revocation, code replay (RFC 6749 §4.1.2), refresh token
reuse (RFC 9700 §4.14.2) and logout all come here.

A grant's access tokens share its ``grant_id``; its refresh token family has that id. Revoking a grant
deletes both, so ``/userinfo`` and introspection refuse its access tokens at once.
"""

from __future__ import annotations

import contextlib

from idgate.errors import NotFound
from idgate.storage.base import AccessToken, RefreshToken, Storage


async def revoke_grant(storage: Storage, grant_id: str) -> None:
    """End the refresh token family ``grant_id`` and every access token issued with it."""
    if not grant_id:
        return
    with contextlib.suppress(NotFound):
        await storage.delete(RefreshToken, grant_id)
    await storage.delete_where(AccessToken, grant_id=grant_id)


async def revoke_session(storage: Storage, session_id: str) -> None:
    """End everything a login session started: its refresh token families and access tokens."""
    if not session_id:
        return
    for family in await storage.find(RefreshToken, session_id=session_id):
        await revoke_grant(storage, family.id)
    await storage.delete_where(AccessToken, session_id=session_id)

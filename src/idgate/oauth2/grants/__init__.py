"""Grants of the token endpoint: one small object per ``grant_type`` (:mod:`.base`)."""

from __future__ import annotations

from idgate.oauth2.grants.authorization_code import AuthorizationCodeGrant
from idgate.oauth2.grants.base import Grant, GrantType

__all__ = ["GRANT_TYPES", "AuthorizationCodeGrant", "Grant", "GrantType"]

#: grant_type -> grant (one explicit registry; the provider offers exactly these).
GRANT_TYPES: dict[str, GrantType] = {
    AuthorizationCodeGrant.grant_type: AuthorizationCodeGrant(),
}

"""Grants of the token endpoint: one small object per ``grant_type`` (:mod:`.base`).

=================================================  ==========================================  ==========
``grant_type``                                     module                                      offered
=================================================  ==========================================  ==========
``authorization_code``                             :mod:`.authorization_code` (RFC 6749 §4.1)   always
``refresh_token``                                  :mod:`.refresh_token` (RFC 6749 §6)          always
``urn:ietf:params:oauth:grant-type:device_code``   :mod:`.device_code` (RFC 8628)               always
``password``                                       :mod:`.password` (RFC 6749 §4.3)             when
                                                                                               configured
=================================================  ==========================================  ==========
"""

from __future__ import annotations

from idgate.oauth2.grants.authorization_code import AuthorizationCodeGrant
from idgate.oauth2.grants.base import Grant, GrantContext, GrantType, RefreshPolicy
from idgate.oauth2.grants.device_code import DeviceCodeGrant
from idgate.oauth2.grants.password import PasswordGrant
from idgate.oauth2.grants.refresh_token import RefreshTokenGrant

__all__ = [
    "GRANT_TYPES",
    "AuthorizationCodeGrant",
    "DeviceCodeGrant",
    "Grant",
    "GrantContext",
    "GrantType",
    "PasswordGrant",
    "RefreshPolicy",
    "RefreshTokenGrant",
    "grant_types",
]

#: grant_type -> grant, for every grant that is always on (one explicit registry).
GRANT_TYPES: dict[str, GrantType] = {
    AuthorizationCodeGrant.grant_type: AuthorizationCodeGrant(),
    RefreshTokenGrant.grant_type: RefreshTokenGrant(),
    DeviceCodeGrant.grant_type: DeviceCodeGrant(),
}


def grant_types(*, password: bool) -> dict[str, GrantType]:
    """The grants a provider offers: :data:`GRANT_TYPES`, plus ``password`` when it is configured."""
    offered = dict(GRANT_TYPES)
    if password:
        offered[PasswordGrant.grant_type] = PasswordGrant()
    return offered

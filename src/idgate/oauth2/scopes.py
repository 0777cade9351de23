"""The scopes the provider knows (Dex's names) and what each releases.

``audience:server:client_id:PEER`` (Dex's cross-client scope) asks for an ID token whose audience
includes the client ``PEER``; the provider allows it only when ``PEER`` lists the requesting client in
its ``trustedPeers`` (:func:`audiences` picks the peers out; the provider checks them against storage).
"""

from __future__ import annotations

from idgate.oauth2.errors import InvalidScope

OPENID = "openid"
EMAIL = "email"
PROFILE = "profile"
GROUPS = "groups"
OFFLINE_ACCESS = "offline_access"
FEDERATED_ID = "federated:id"

SUPPORTED = (OPENID, EMAIL, GROUPS, PROFILE, OFFLINE_ACCESS, FEDERATED_ID)
AUDIENCE_PREFIX = "audience:server:client_id:"


def audiences(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """The peer client ids asked for with ``audience:server:client_id:PEER`` scopes."""
    return tuple(s[len(AUDIENCE_PREFIX) :] for s in scopes if s.startswith(AUDIENCE_PREFIX))


def parse(value: str) -> tuple[str, ...]:
    """A space-separated ``scope`` parameter as a tuple, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(value.split()))


def check(scopes: tuple[str, ...]) -> None:
    """``openid`` is required; unknown scopes are refused, as Dex refuses them."""
    if OPENID not in scopes:
        raise InvalidScope("the openid scope is required")
    unknown = [
        s
        for s in scopes
        if s not in SUPPORTED and not (s.startswith(AUDIENCE_PREFIX) and len(s) > len(AUDIENCE_PREFIX))
    ]
    if unknown:
        raise InvalidScope("unsupported scope: " + " ".join(unknown))

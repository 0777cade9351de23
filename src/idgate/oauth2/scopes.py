"""The scopes the provider knows (Dex's names) and what each releases."""

from __future__ import annotations

from idgate.oauth2.errors import InvalidScope

OPENID = "openid"
EMAIL = "email"
PROFILE = "profile"
GROUPS = "groups"
OFFLINE_ACCESS = "offline_access"
FEDERATED_ID = "federated:id"

SUPPORTED = (OPENID, EMAIL, GROUPS, PROFILE, OFFLINE_ACCESS, FEDERATED_ID)


def parse(value: str) -> tuple[str, ...]:
    """A space-separated ``scope`` parameter as a tuple, duplicates dropped, order kept."""
    return tuple(dict.fromkeys(value.split()))


def check(scopes: tuple[str, ...]) -> None:
    """``openid`` is required; unknown scopes are refused, as Dex refuses them."""
    if OPENID not in scopes:
        raise InvalidScope("the openid scope is required")
    unknown = [s for s in scopes if s not in SUPPORTED]
    if unknown:
        raise InvalidScope("unsupported scope: " + " ".join(unknown))

"""When the approval screen is shown and what it says (:mod:`idgate.provider.approval`)."""

from __future__ import annotations

import pytest

from idgate.provider import approval
from idgate.storage.base import Client


@pytest.mark.parametrize(
    ("prompt", "skip", "device", "needed"),
    [
        ((), False, False, True),  # skipApprovalScreen: false (Dex's meaning)
        ((), True, False, False),
        (("consent",), True, False, True),  # prompt=consent wins over skipApprovalScreen (OIDC Core §3.1.2.1)
        (("login", "consent"), True, False, True),
        (("login",), True, False, False),
        (("none",), False, False, True),  # the login answers consent_required
        ((), False, True, False),  # device logins never: the user code is the confirmation
        (("consent",), False, True, False),
    ],
)
def test_when_approval_is_needed(prompt: tuple[str, ...], skip: bool, device: bool, needed: bool) -> None:
    assert approval.needed(prompt, skip=skip, device=device) is needed


def test_scopes_in_words_in_the_request_order_without_openid_or_unknown_ones() -> None:
    scopes = ("openid", "offline_access", "email", "groups", "profile", "something:else", "email")
    assert approval.asks(scopes) == (
        "Have offline access",
        "View your email address",
        "View your groups",
        "View basic profile information",
    )
    assert approval.asks(("openid",)) == ()


def test_a_peer_audience_is_named_by_its_client_name() -> None:
    scopes = ("openid", "audience:server:client_id:kubernetes", "audience:server:client_id:other")
    assert approval.asks(scopes, {"kubernetes": "Kubernetes"}) == (
        "Be used by Kubernetes",
        "Be used by other",
    )


async def test_peer_names_come_from_the_client_lookup() -> None:
    known = {"kubernetes": Client(id="kubernetes", secret="", redirect_uris=(), name="Kubernetes")}

    async def lookup(client_id: str) -> Client | None:
        return known.get(client_id)

    scopes = ("openid", "audience:server:client_id:kubernetes", "audience:server:client_id:gone")
    assert await approval.peer_names(scopes, lookup) == {"kubernetes": "Kubernetes"}

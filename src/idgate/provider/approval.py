"""The approval screen (Dex's ``oauth2.skipApprovalScreen: false``): after the login, before anything is
issued, the person sees what the client asks for, in words, and grants or denies it.

When it is shown (:func:`needed`):

- ``skipApprovalScreen: false``: after every browser login, fresh or from the SSO session;
- ``prompt=consent`` (OIDC Core §3.1.2.1): always, even with ``skipApprovalScreen: true``;
- never for a device login (RFC 8628): typing the user code and the password is the approval;
- ``prompt=none`` with a screen needed: no page, ``consent_required`` back to the client (§3.1.2.6).

The flow (:mod:`.login`): the login stores the pending request again with an
:class:`~idgate.storage.base.ApprovalPending` (who logged in, the SSO session, a deadline) and sends the
browser to ``{issuer}/approval?req=ID``. The page's one form POSTs ``req`` and ``approval=approve|deny``
to the same address; the POST is bound to the browser like the login form's, and claims the request by
deleting it, so a double submit issues one code. Grant: the code (or implicit tokens) as after any login.
Deny: ``error=access_denied`` with ``state`` and ``iss`` (RFC 9207) back to the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from idgate.oidc import prompt as prompts
from idgate.storage.base import Client

#: How long the approval page waits for an answer.
APPROVAL_TTL = 600.0

APPROVE = "approve"
DENY = "deny"

#: What a scope lets the client do, in the words of Dex's approval page.
SCOPE_WORDS: Mapping[str, str] = {
    "email": "View your email address",
    "profile": "View basic profile information",
    "groups": "View your groups",
    "offline_access": "Have offline access",
    "federated:id": "View the ID of the account you signed in with",
}

_PEER_PREFIX = "audience:server:client_id:"


def needed(prompt: tuple[str, ...], *, skip: bool, device: bool = False) -> bool:
    """Whether the person must grant the request before anything is issued."""
    if device:
        return False
    return prompts.CONSENT in prompt or not skip


def asks(scopes: tuple[str, ...], peer_names: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """What ``scopes`` ask, in words, in the request's order: known scopes, and each peer client the
    tokens would be issued for (``audience:server:client_id:X``, by its name when known). ``openid``
    and scopes that mean nothing to a person are left out."""
    names = peer_names or {}
    out: list[str] = []
    for scope in scopes:
        if scope.startswith(_PEER_PREFIX):
            peer = scope.removeprefix(_PEER_PREFIX)
            out.append(f"Be used by {names.get(peer) or peer}")
        elif scope in SCOPE_WORDS:
            out.append(SCOPE_WORDS[scope])
    return tuple(dict.fromkeys(out))


async def peer_names(
    scopes: tuple[str, ...], lookup: Callable[[str], Awaitable[Client | None]]
) -> dict[str, str]:
    """The names of the peer clients that ``scopes`` name (those ``lookup`` knows)."""
    names: dict[str, str] = {}
    for scope in scopes:
        if scope.startswith(_PEER_PREFIX):
            peer = await lookup(scope.removeprefix(_PEER_PREFIX))
            if peer is not None:
                names[peer.id] = peer.name or peer.id
    return names

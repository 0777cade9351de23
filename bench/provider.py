"""Token-endpoint benches: fresh authorization codes for idgate and for ``oidc-provider``, form bodies for
``token.lua``, and refresh tokens obtained by redeeming codes.

Codes are minted the way each provider's ``/auth`` would mint them after a login (idgate: its
``issue_code`` record written to its storage; oidc-provider: its own ``AuthorizationCode`` model), because a
code is good for one redemption and 60 s, and minting thousands through bcrypt logins would measure
bcrypt. The token endpoint itself -- client authentication, redemption, tokens, RS256 ID token -- runs as
in production.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from bench.configs import BENCH_REDIRECT, TOKEN_USERS, token_user

SCOPES = ("openid", "email", "offline_access")
#: Grants per second the token benches prepare bodies for (doubled after a run that still ran out).
RATE_GUESS = 2500.0
#: One PKCE pair for every minted code (S256): providers may require PKCE of every client (OAuth 2.1).
VERIFIER = secrets.token_urlsafe(48)
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def code_bodies(codes: list[str]) -> list[str]:
    return [
        urlencode(
            {
                "grant_type": "authorization_code",
                "code": c,
                "redirect_uri": BENCH_REDIRECT,
                "code_verifier": VERIFIER,
            }
        )
        for c in codes
    ]


def refresh_bodies(tokens: list[str]) -> list[str]:
    return [urlencode({"grant_type": "refresh_token", "refresh_token": t}) for t in tokens]


def write_bodies(path: Path, bodies: list[str]) -> Path:
    path.write_text("\n".join(bodies) + "\n")
    return path


_first_logins = itertools.count()


async def mint_idgate_codes(storage_url: str, n: int, *, known_users: bool = True) -> list[str]:
    """``n`` codes for client ``rp``, written to idgate's storage as its ``/auth`` would after a login.

    ``known_users``: spread over the ``TOKEN_USERS`` users in idgate's storage (a refresh asks the
    connector whether its user still exists). Otherwise each code is a different person's first login:
    a code exchange bench then measures exchanges, not the eviction of a user's oldest refresh families
    (at most 10 per user and client) that thousands of logins a minute by the same people would cause.
    """
    from idgate.oauth2.grants.authorization_code import issue_code
    from idgate.storage import open_storage
    from idgate.storage.base import AuthRequest, Claims

    storage = await open_storage(storage_url)
    try:
        now = time.time()
        request = AuthRequest(
            id="bench",
            client_id="rp",
            redirect_uri=BENCH_REDIRECT,
            scopes=SCOPES,
            state="",
            nonce="",
            code_challenge=CHALLENGE,
            code_challenge_method="S256",
            connector_id="local",
            browser="",
            expires_at=now + 60,
        )
        codes: list[str] = []
        for i in range(n):
            # spread over TOKEN_USERS real users: idgate keeps at most 10 refresh families per user and
            # client, and a refresh asks the connector whether the user still exists
            if known_users:
                uid, email = token_user(i % TOKEN_USERS)
                name = f"bench{i % TOKEN_USERS}"  # the claims the local connector reports after a login
            else:
                first = next(_first_logins)
                uid, email, name = f"first-login-{first}", f"first{first}@example.com", f"first{first}"
            claims = Claims(
                user_id=uid, username=name, email=email, email_verified=True, preferred_username=name
            )
            code, record = issue_code(request, claims, now, 60.0)
            await storage.create(record)
            codes.append(code)
        return codes
    finally:
        await storage.close()


def mint_oidc_provider_codes(port: int, n: int) -> list[str]:
    url = f"http://127.0.0.1:{port}/bench/mint?n={n}&challenge={CHALLENGE}"
    with urllib.request.urlopen(url, timeout=120) as resp:
        return [line for line in resp.read().decode().splitlines() if line]


def probe_grant(token_url: str, host: str, auth: str, body: str) -> tuple[int, str]:
    """POST one form body; returns (status, body) -- used to tell 'not supported' from 'works'."""
    req = urllib.request.Request(
        token_url,
        data=body.encode(),
        method="POST",
        headers={
            "Authorization": auth,
            "Content-Type": "application/x-www-form-urlencoded",
            "Host": host,
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")

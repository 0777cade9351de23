"""The sign-in state cookie (``<name>_oauth2_proxy_csrf``): it binds a callback to the browser that began it.

``/oauth/start`` makes a :class:`LoginState` (random ``state``, ``nonce`` and PKCE verifier, the validated
post-login target, an expiry) and seals it with the deployment's key for the purpose ``csrf`` — so it can
never be opened as a session, nor a session as it. ``/oauth/callback`` opens it, checks the expiry, and
compares ``state`` in constant time. Pure: time and randomness are inputs.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from idgate.oauth2.pkce import s256
from idgate.sessions.sealing import Sealer
from idgate.settings import ProxySettings

CSRF_PURPOSE = "csrf"
LOGIN_TTL = 15 * 60.0


def _token(random: Callable[[int], bytes], size: int = 32) -> str:
    return base64.urlsafe_b64encode(random(size)).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class LoginState:
    """One sign-in in progress; ``rd`` is already validated."""

    state: str
    nonce: str
    verifier: str
    rd: str
    expires: float

    @classmethod
    def new(cls, *, rd: str, now: float, random: Callable[[int], bytes] = os.urandom) -> LoginState:
        """Fresh random values (32 bytes each, base64url) valid for :data:`LOGIN_TTL`."""
        return cls(
            state=_token(random),
            nonce=_token(random),
            verifier=_token(random),
            rd=rd,
            expires=now + LOGIN_TTL,
        )

    @property
    def code_challenge(self) -> str:
        return s256(self.verifier)

    def matches(self, state: str) -> bool:
        """Constant-time comparison with the ``state`` the provider sent back."""
        return hmac.compare_digest(self.state.encode(), state.encode())

    def to_bytes(self) -> bytes:
        doc = {"s": self.state, "n": self.nonce, "v": self.verifier, "r": self.rd, "x": self.expires}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> LoginState:
        """Parse :meth:`to_bytes`; ``ValueError`` on anything else."""
        try:
            doc = json.loads(raw)
            fields = (doc["s"], doc["n"], doc["v"], doc["r"])
            if not all(isinstance(f, str) for f in fields) or not isinstance(doc["x"], int | float):
                raise ValueError("bad field")
            return cls(
                state=doc["s"], nonce=doc["n"], verifier=doc["v"], rd=doc["r"], expires=float(doc["x"])
            )
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError("not a login state") from exc


class LoginStateCookie:
    """Seals and opens one deployment's sign-in state cookie."""

    def __init__(self, proxy: ProxySettings, random: Callable[[int], bytes] = os.urandom) -> None:
        self.name = proxy.csrf_cookie
        self._sealer = Sealer([proxy.encryption_key], CSRF_PURPOSE, random=random)

    def seal(self, login: LoginState) -> str:
        return self._sealer.seal(login.to_bytes(), self.name)

    def open(self, sealed: str, *, now: float) -> LoginState | None:
        """The state in the cookie value; ``None`` if altered, malformed, foreign or expired."""
        raw = self._sealer.open(sealed, self.name)
        if raw is None:
            return None
        try:
            login = LoginState.from_bytes(raw)
        except ValueError:
            return None
        return None if now >= login.expires else login

    def load(self, cookies: Mapping[str, str], *, now: float) -> LoginState | None:
        """The sign-in state carried by a request's cookies, or ``None``."""
        sealed = cookies.get(self.name)
        return None if sealed is None else self.open(sealed, now=now)

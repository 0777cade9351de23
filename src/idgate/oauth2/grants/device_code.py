"""The device authorization grant (RFC 8628).

- ``/device/code`` (:func:`start`): a device code (secret, hashed in storage) and a short user code
  (:func:`new_user_code`: 8 letters from an alphabet without vowels or look-alikes, shown ``XXXX-XXXX``).
- ``/device`` (the provider's page): the person enters the user code and logs in; the login approves
  the :class:`~idgate.storage.base.DeviceToken` (:func:`approval`).
- the token endpoint, ``grant_type=urn:ietf:params:oauth:grant-type:device_code``
  (:class:`DeviceCodeGrant`): ``authorization_pending`` until then, ``slow_down`` (and 5 s more
  interval) when polled faster than the interval, ``access_denied``, ``expired_token``; the tokens are
  delivered once, and the device code is spent after that (``invalid_grant``).
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import ClassVar, Literal

from idgate.errors import AlreadyExists, NotFound
from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidGrant,
    InvalidRequest,
    SlowDown,
)
from idgate.oauth2.grants.base import Grant, GrantContext
from idgate.oauth2.requests import TokenRequest
from idgate.storage.base import Claims, Client, DeviceRequest, DeviceToken, secret_id

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, case-insensitive
USER_CODE_LENGTH = 8
DEVICE_CODE_BYTES = 32
INTERVAL = 5
SLOW_DOWN_STEP = 5


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def format_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def normalise_user_code(typed: str) -> str:
    """What a person typed (any case, dashes, spaces) as the stored user code."""
    return "".join(c for c in typed.upper() if c.isalnum())


def shown_user_code(typed: str) -> str:
    """A user code as the page shows it: ``XXXX-XXXX`` when ``typed`` is one in any form (``jjrcnbpv``,
    ``JJRC-NBPV``), else as it was typed (the person sees their own mistake)."""
    code = normalise_user_code(typed)
    return format_user_code(code) if len(code) == USER_CODE_LENGTH else typed


@dataclass(frozen=True, slots=True)
class DeviceStart:
    """The answer to ``/device/code`` before it is rendered."""

    device_code: str
    user_code: str
    expires_in: int
    interval: int


async def start(ctx: GrantContext, client: Client, scopes: tuple[str, ...], ttl: float) -> DeviceStart:
    """Store a device authorization for ``client`` (RFC 8628 §3.1-3.2)."""
    scope_names.check(scopes)
    device_code = secrets.token_urlsafe(DEVICE_CODE_BYTES)
    expires_at = ctx.now + ttl
    token = DeviceToken(
        id=secret_id(device_code),
        client_id=client.id,
        scopes=scopes,
        interval=INTERVAL,
        expires_at=expires_at,
    )
    await ctx.storage.create(token)
    for _ in range(5):  # a user code collision is rare; try another
        user_code = new_user_code()
        try:
            await ctx.storage.create(
                DeviceRequest(
                    id=user_code,
                    device_id=token.id,
                    client_id=client.id,
                    scopes=scopes,
                    expires_at=expires_at,
                )
            )
        except AlreadyExists:
            continue
        return DeviceStart(device_code, user_code, int(ttl), INTERVAL)
    raise InvalidRequest("could not allocate a user code; try again")


def approval(
    now: float,
    *,
    claims: Claims,
    connector_id: str,
    connector_data: str,
    auth_time: float,
    session_id: str,
) -> Approve:
    return Approve(now, claims, connector_id, connector_data, auth_time, session_id)


@dataclass(frozen=True, slots=True)
class Approve:
    """The update that approves a pending device token with the person who logged in."""

    now: float
    claims: Claims
    connector_id: str
    connector_data: str
    auth_time: float
    session_id: str

    def __call__(self, token: DeviceToken) -> DeviceToken:
        if token.status != "pending" or self.now >= token.expires_at:
            raise InvalidGrant("this device code is no longer waiting")
        return dataclasses.replace(
            token,
            status="approved",
            claims=self.claims,
            connector_id=self.connector_id,
            connector_data=self.connector_data,
            auth_time=self.auth_time,
            session_id=self.session_id,
        )


Outcome = Literal["pending", "slow_down", "deliver"]


class DeviceCodeGrant:
    """``grant_type=urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628 §3.4-3.5)."""

    grant_type: ClassVar[str] = GRANT_TYPE

    async def exchange(self, ctx: GrantContext, client: Client, request: TokenRequest) -> Grant:
        if not request.device_code:
            raise InvalidRequest("device_code is required")
        now = ctx.now
        outcome: list[Outcome] = []

        def poll(token: DeviceToken) -> DeviceToken:
            outcome.clear()
            if token.client_id != client.id:
                raise InvalidGrant("device code was issued to another client")
            if now >= token.expires_at:
                raise ExpiredToken("the device code expired; start again")
            if token.status == "delivered":
                raise InvalidGrant("device code already used")
            if token.status == "denied":
                raise AccessDenied("the person denied the request")
            if token.status == "approved":
                outcome.append("deliver")
                return dataclasses.replace(token, status="delivered", last_poll=now)
            if token.last_poll is not None and now - token.last_poll < token.interval:
                outcome.append("slow_down")
                return dataclasses.replace(token, interval=token.interval + SLOW_DOWN_STEP, last_poll=now)
            outcome.append("pending")
            return dataclasses.replace(token, last_poll=now)

        try:
            token = await ctx.storage.update(DeviceToken, secret_id(request.device_code), poll)
        except NotFound:
            raise InvalidGrant("device code is invalid") from None
        if outcome == ["slow_down"]:
            raise SlowDown(f"poll at most every {token.interval} seconds")
        if outcome != ["deliver"] or token.claims is None:
            raise AuthorizationPending("the person has not finished logging in yet")
        return Grant(
            client_id=token.client_id,
            scopes=token.scopes,
            claims=token.claims,
            connector_id=token.connector_id,
            auth_time=token.auth_time,
            session_id=token.session_id,
            connector_data=token.connector_data,
            grant_id=secrets.token_urlsafe(18),
        )

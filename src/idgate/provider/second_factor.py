"""The TOTP second factor of ``local`` users: who has one, checking a code, enrolling.

A user of the ``local`` connector with a :class:`~idgate.storage.base.SecondFactor` record signs in in two
steps (:mod:`.login`): the password form, then a code. A code is checked inside
:meth:`~idgate.storage.base.Storage.update`, which records the accepted step (or removes the recovery
code used) in the same transaction: two submits of one code, even on two replicas, have one winner.
The codes themselves are :mod:`.totp`'s; the secret is never logged.

``idgate user totp enroll|disable|recovery-codes`` (:mod:`idgate.cli.user`) build records with
:func:`enrollment` and :func:`hashed`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from idgate.connectors.base import Connector, Identity
from idgate.connectors.local import LocalConnector
from idgate.errors import NotFound
from idgate.provider import totp
from idgate.storage.base import SecondFactor, Storage

#: How long after the password step its code may come.
CODE_TTL = 300.0

Used = Literal["totp", "recovery_code"]


class WrongCode(Exception):
    """The code matched no step of the window after the last accepted one, nor an unused recovery code."""


def factor_id(email: str) -> str:
    """The id of a local user's second factor: their :class:`~idgate.storage.base.Password` id."""
    return email.strip().lower()


async def enrolled(storage: Storage, connector: Connector, identity: Identity) -> str | None:
    """The id of the second factor that ``identity`` (just authenticated by ``connector``) must pass, or
    ``None``: only users of the ``local`` connector have one."""
    if not isinstance(connector, LocalConnector):
        return None
    key = factor_id(identity.email)
    try:
        await storage.get(SecondFactor, key)
    except NotFound:
        return None
    return key


def use(typed: str, now: float) -> Callable[[SecondFactor], SecondFactor]:
    """The update that accepts ``typed`` once: a TOTP code (its step recorded) or a recovery code (its
    hash removed); :class:`WrongCode` otherwise, and nothing is written."""

    def fn(factor: SecondFactor) -> SecondFactor:
        if totp.is_totp_code(typed):
            step = totp.match_step(totp.secret_bytes(factor.secret), typed, now, last_step=factor.last_step)
            if step is None:
                raise WrongCode()
            return dataclasses.replace(factor, last_step=step)
        index = totp.match_recovery_code(factor.recovery_hashes, typed)
        if index is None:
            raise WrongCode()
        left = factor.recovery_hashes[:index] + factor.recovery_hashes[index + 1 :]
        return dataclasses.replace(factor, recovery_hashes=left)

    return fn


async def verify(storage: Storage, key: str, typed: str, now: float) -> Used | None:
    """Check ``typed`` against the second factor ``key``: what it was, or ``None`` when wrong (or
    replayed). :class:`~idgate.errors.NotFound` when the user has no second factor (any more)."""
    if not typed.strip() or len(typed) > 64:
        return None
    try:
        await storage.update(SecondFactor, key, use(typed, now))
    except WrongCode:
        return None
    return "totp" if totp.is_totp_code(typed) else "recovery_code"


# -- enrolment (idgate user totp ...) -----------------------------------------------------------


def hashed(codes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(totp.recovery_hash(c) for c in codes)


def enrollment(key: str, secret: str, codes: tuple[str, ...], confirm: str, now: float) -> SecondFactor:
    """The record of a new second factor, once ``confirm`` (the code the person's app shows now) is
    right: its step is recorded, so that code cannot sign in. ``ValueError`` for a wrong code."""
    step = totp.match_step(totp.secret_bytes(secret), confirm, now, last_step=-1)
    if step is None:
        raise ValueError("that code is not the current one for this secret")
    return SecondFactor(id=key, secret=secret, enrolled_at=now, last_step=step, recovery_hashes=hashed(codes))

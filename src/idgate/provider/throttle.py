"""Password login throttling: per-account and per-address limits, lockout, a constant failure delay.

Two counters of *failed* password attempts are kept in storage, so every replica sees them: one for the
account and one for the client address. The account is the one the connector resolves the typed name to
when it can (:class:`~idgate.connectors.base.AccountConnector`: an LDAP entry's DN, found by a search
before any bind), so the ``uid`` and the ``mail`` of one entry share one counter
(:meth:`Throttle.counted_as`; ``idgate user unlock`` takes the DN then). Otherwise, and for a name no
account has, it is the canonical typed name, so unknown names are limited alike and a lockout tells
nothing about existence. Before a password is checked (the login form and the
``password`` grant), both are looked at: while either is locked the attempt is refused without checking
the password at all. A failure is counted with an atomic :meth:`~idgate.storage.base.Storage.update`;
when a counter reaches its limit inside the window, its key is locked until the lockout ends (or
``idgate user unlock`` clears it). A success deletes the account's counter. Successes are never
counted, so many people (or replicas) signing in to one shared account at once are not refused.

A wrong second-factor code (:mod:`.second_factor`) is a failure on the same two counters, and for a user
with a second factor only the right code is a success: the right password alone clears nothing.

The check comes before the count, so guesses sent in one parallel burst before the first of them
failed are all checked; the limit bounds every later burst (THREAT_MODEL.md, residual risks).

The limits (:class:`Limits`) come from ``idgate.login_throttle`` in the values file.

Every failure and every refusal is answered after the same delay, measured from the start of the
attempt, so the answer time tells nothing about whether the user exists and each guess costs the
attacker at least that long.

The client address is the right-most public address in ``X-Forwarded-For`` (the edge appends the peer it
saw; entries to its left come from trusted proxies or from the client itself), and IPv6 addresses are
counted per /64, the block one host usually controls.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import ipaddress
import unicodedata
from collections.abc import Awaitable, Callable

from idgate.clock import Clock
from idgate.connectors.base import AccountConnector, Connector
from idgate.connectors.errors import ConnectorError
from idgate.errors import AlreadyExists, NotFound
from idgate.settings import LoginLimits
from idgate.storage.base import LoginFailures, Storage

ACCOUNT = "account:"
ADDRESS = "ip:"

#: How many failures a key may have in ``window`` seconds before it is locked for ``lockout`` (the
#: settings' record, from ``idgate.login_throttle``; the defaults are 5, 30, 15 min, 15 min and 1 s).
Limits = LoginLimits


class Throttled(Exception):
    """Too many failed attempts for this account or address; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"locked for {int(retry_after)} s")
        self.retry_after = retry_after


def canonical_username(username: str) -> str:
    """The form of a user name that counters are keyed on: NFKC, trimmed, case-folded."""
    return unicodedata.normalize("NFKC", username).strip().casefold()


def account_key(username: str) -> str:
    digest = hashlib.sha256(canonical_username(username).encode("utf-8", "surrogatepass")).hexdigest()
    return ACCOUNT + digest


def address_key(address: str) -> str:
    """The counter key of a client address (``ip:`` + the address, or its /64 for IPv6)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ADDRESS + "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ADDRESS + str(ip.ipv4_mapped)
        return ADDRESS + str(ipaddress.IPv6Network((ip, 64), strict=False))
    return ADDRESS + str(ip)


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (ip.is_private or ip.is_loopback or ip.is_link_local)


def client_address(forwarded_for: str, peer: str = "") -> str:
    """The address to count: the right-most public entry of ``X-Forwarded-For``, else its last entry."""
    entries: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for part in forwarded_for.split(","):
        try:
            entries.append(ipaddress.ip_address(part.strip()))
        except ValueError:
            continue
    for ip in reversed(entries):
        if _public(ip):
            return str(ip)
    if entries:
        return str(entries[-1])
    return peer


def is_locked(record: LoginFailures, now: float) -> bool:
    return record.locked_until is not None and now < record.locked_until


def count_failure(
    record: LoginFailures | None, key: str, now: float, limit: int, limits: Limits
) -> LoginFailures:
    """``record`` with one more failure; locked when it reaches ``limit`` inside the window."""
    if record is None or (now >= record.first_at + limits.window and not is_locked(record, now)):
        record = LoginFailures(id=key, failures=0, first_at=now, expires_at=now + limits.window)
    failures = record.failures + 1
    locked_until = now + limits.lockout if failures >= limit else record.locked_until
    expires = max(record.first_at + limits.window, locked_until or 0.0)
    return dataclasses.replace(record, failures=failures, locked_until=locked_until, expires_at=expires)


def check(record: LoginFailures | None, now: float) -> None:
    """:class:`Throttled` while ``record`` is locked."""
    if record is not None and record.locked_until is not None and now < record.locked_until:
        raise Throttled(record.locked_until - now)


class Throttle:
    """The throttle of one provider (its storage and clock; ``sleep`` is an input for tests)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        limits: Limits | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.limits = limits or Limits()
        self.sleep = sleep
        self._monotonic = monotonic

    def started(self) -> float:
        """A mark taken when an attempt begins (for :meth:`fail_slowly`)."""
        return self._monotonic() if self._monotonic else asyncio.get_running_loop().time()

    async def fail_slowly(self, started: float) -> None:
        """Wait until ``failure_delay`` has passed since ``started``."""
        remaining = self.limits.failure_delay - (self.started() - started)
        if remaining > 0:
            await self.sleep(remaining)

    async def counted_as(self, connector: Connector, username: str) -> str:
        """The name that ``username``'s failures are counted under: the account the connector resolves it
        to, else ``username`` itself (also when the connector cannot tell now: the login will say why)."""
        if isinstance(connector, AccountConnector):
            try:
                account = await connector.account(username)
            except ConnectorError:
                account = None
            if account:
                return account
        return username

    def _keys(self, username: str, address: str) -> list[tuple[str, int]]:
        keys = [(account_key(username), self.limits.account_failures)]
        if address:  # "" (unknown, e.g. the password grant): only the account is counted
            keys.append((address_key(address), self.limits.address_failures))
        return keys

    async def check(self, username: str, address: str) -> None:
        """:class:`Throttled` when the account or the address is locked."""
        now = self.clock.now()
        for key, _limit in self._keys(username, address):
            try:
                record = await self.storage.get(LoginFailures, key)
            except NotFound:
                continue
            check(record, now)

    async def _count(self, key: str, limit: int) -> None:
        now = self.clock.now()

        def fn(current: LoginFailures) -> LoginFailures:
            return count_failure(current, key, now, limit, self.limits)

        for _ in range(3):
            try:
                await self.storage.update(LoginFailures, key, fn)
                return
            except NotFound:
                try:
                    await self.storage.create(count_failure(None, key, now, limit, self.limits))
                    return
                except AlreadyExists:
                    continue

    async def failed(self, username: str, address: str) -> None:
        """Count a failed attempt for the account and the address."""
        for key, limit in self._keys(username, address):
            await self._count(key, limit)

    async def succeeded(self, username: str) -> None:
        """The password was right: the account's failures are forgotten."""
        with contextlib.suppress(NotFound):
            await self.storage.delete(LoginFailures, account_key(username))


async def unlock(storage: Storage, *, username: str = "", address: str = "") -> list[str]:
    """Clear the counters of ``username`` and/or ``address`` (``idgate user unlock``); the keys cleared."""
    keys = ([account_key(username)] if username else []) + ([address_key(address)] if address else [])
    cleared: list[str] = []
    for key in keys:
        try:
            await storage.delete(LoginFailures, key)
            cleared.append(key)
        except NotFound:
            pass
    return cleared

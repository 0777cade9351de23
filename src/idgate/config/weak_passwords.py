"""``idgate check``'s warning for a static password anyone could guess: ``dex.staticPasswords[].hash`` that
is the bcrypt hash of one of :data:`COMMON_PASSWORDS` (the KKP documentation's example user has
bcrypt("password"), and copies of it end up in real files).

What it does, and what it costs: each distinct hash of bcrypt cost :data:`MAX_COST` or less is checked
against the :data:`COMMON_PASSWORDS` list (at most 20 bcrypt checks a hash, about 1.5 s at cost 10 on one
core, spread over the cores); a hash of a higher cost is not checked (cost 13 would take 12 s and more).
Only ``idgate check`` runs it (:func:`idgate.config.checks.check` with no target), never ``serve`` or
``render``. The warning names the user and the key, never the password.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from idgate.config.dex import bcrypt_hash_bytes
from idgate.config.model import Config
from idgate.errors import Problem

__all__ = ["COMMON_PASSWORDS", "MAX_COST", "weak_password_problems"]

#: The commonest passwords of the public breach lists (NCSC's top 100,000; yearly "worst passwords"
#: lists), and the ones example files use. "password" first: it is the KKP example's.
COMMON_PASSWORDS = (
    "password",
    "123456",
    "123456789",
    "12345678",
    "12345",
    "1234567",
    "qwerty",
    "abc123",
    "password1",
    "111111",
    "123123",
    "000000",
    "qwerty123",
    "iloveyou",
    "letmein",
    "welcome",
    "admin",
    "changeme",
    "secret",
    "passw0rd",
)
#: The highest bcrypt cost checked (each step doubles the time a check takes).
MAX_COST = 12


def cost_of(hashed: bytes) -> int | None:
    """The cost of a ``$2a$10$...`` hash, ``None`` when it cannot be read."""
    parts = hashed.split(b"$")
    if len(parts) < 4 or not parts[2].isdigit():
        return None
    return int(parts[2])


def _common(hashed: bytes) -> bool:
    for password in COMMON_PASSWORDS:
        try:
            if bcrypt.checkpw(password.encode(), hashed):
                return True
        except ValueError:  # a hash bcrypt cannot read: not ours to judge here
            return False
    return False


def _checked(config: Config) -> Iterator[tuple[int, str, bytes]]:
    """(index, email, hash) of every static password whose hash is cheap enough to check."""
    if config.dex is None:
        return
    for i, entry in enumerate(config.dex.staticPasswords):
        hashed = bcrypt_hash_bytes(entry.hash)
        cost = cost_of(hashed) if hashed else None
        if hashed and cost is not None and cost <= MAX_COST:
            yield i, entry.email, hashed


def weak_password_problems(config: Config) -> list[Problem]:
    """A warning at each ``dex.staticPasswords[i].hash`` that is the hash of a common password."""
    entries = list(_checked(config))
    distinct = list(dict.fromkeys(h for _, _, h in entries))
    if not distinct:
        return []
    with ThreadPoolExecutor(max_workers=min(len(distinct), os.cpu_count() or 1)) as pool:
        weak = {h for h, found in zip(distinct, pool.map(_common, distinct), strict=True) if found}
    return [
        Problem(
            config.path("dex", "staticPasswords", i, "hash"),
            f"is the hash of one of the {len(COMMON_PASSWORDS)} commonest passwords: anyone can sign in as "
            f"{email}; put the hash of a strong password here (htpasswd -nbBC 10 '' 'NEW PASSWORD' | "
            "cut -d: -f2)",
            "warning",
        )
        for i, email, hashed in entries
        if hashed in weak
    ]

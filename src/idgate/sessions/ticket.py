"""Tickets: what the browser's cookie holds when sessions live in a server-side store (Redis).

A ticket is a random session id (16 bytes) and a random per-session key (32 bytes), sealed with the
deployment's keys for the purpose ``ticket`` (so it rotates like the session cookie and cannot be forged
or moved to another deployment). The store holds the session sealed with the per-session key
(AES-256-GCM, the store key as associated data): someone who reads Redis learns nothing and can forge
nothing without the browser's cookie. Pure: randomness is an input.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from idgate.sessions.sealing import NONCE_BYTES, Sealer

TICKET_PURPOSE = "ticket"
ID_BYTES = 16
KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class Ticket:
    """A session's id (its slot in the store) and the key its record is sealed with."""

    id: bytes
    key: bytes

    @classmethod
    def new(cls, random: Callable[[int], bytes] = os.urandom) -> Ticket:
        return cls(random(ID_BYTES), random(KEY_BYTES))

    @property
    def slot(self) -> str:
        """The id as text, for the store key."""
        return base64.urlsafe_b64encode(self.id).rstrip(b"=").decode("ascii")

    def seal_record(self, plaintext: bytes, aad: bytes, random: Callable[[int], bytes] = os.urandom) -> bytes:
        nonce = random(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, aad)

    def open_record(self, record: bytes, aad: bytes) -> bytes | None:
        if len(record) < NONCE_BYTES + 16:
            return None
        try:
            return AESGCM(self.key).decrypt(record[:NONCE_BYTES], record[NONCE_BYTES:], aad)
        except InvalidTag:
            return None


class TicketSealer:
    """Seals tickets into cookie values and opens them (key rotation as for session cookies)."""

    def __init__(self, secrets: Sequence[bytes], cookie_name: str) -> None:
        self._sealer = Sealer(secrets, TICKET_PURPOSE)
        self._name = cookie_name

    def seal(self, ticket: Ticket) -> str:
        return self._sealer.seal(ticket.id + ticket.key, self._name)

    def open(self, value: str) -> Ticket | None:
        raw = self._sealer.open(value, self._name)
        if raw is None or len(raw) != ID_BYTES + KEY_BYTES:
            return None
        return Ticket(raw[:ID_BYTES], raw[ID_BYTES:])

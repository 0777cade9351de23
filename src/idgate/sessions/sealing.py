"""Sealed cookies: AES-256-GCM with a key per purpose, key lists for rotation, chunking under 4 KB.

A sealed value is ``base64url(nonce(12) || ciphertext+tag)`` without padding. The cookie's name is the
associated data, so a value sealed for one cookie (or one deployment) never opens under another name.
Opening reads base64url strictly: any other character (``+``, ``/``, ``=``, blanks, ``.``...) or a length
no encoding gives is refused before any decryption.

Keys: each configured secret (the deployment's ``encryption_key``; newest first) is stretched with
HKDF-SHA256 into one key per *purpose* (``session``, ``csrf``...), so a CSRF cookie can never be
replayed as a session. :meth:`Sealer.seal` uses the newest key, :meth:`Sealer.open` tries each.

Size: a session's bytes longer than :data:`DEFLATE_ABOVE` are deflated before sealing (:func:`deflate`), and
marked by a first byte :data:`DEFLATED` inside the sealed plaintext (a JSON session starts with ``{``, so
cookies sealed before compression existed open as they are). A person in 3,000 groups needs about half the
bytes. What still needs more than :data:`MAX_CHUNKS` cookies raises :class:`SessionTooLarge`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from idgate.errors import IdgateError

NONCE_BYTES = 12
MAX_COOKIE_VALUE = 3800  # a cookie line stays under the 4096-byte limit browsers keep
MAX_CHUNKS = 8
MAX_SEALED = MAX_COOKIE_VALUE * MAX_CHUNKS
#: Session bytes up to this size are sealed as they are: sealed, they fit one cookie, and inflating would
#: only add to each open (they pay 0.1 µs to look at the first byte; see ``docs/proxy.md``, "Sessions").
DEFLATE_ABOVE = (MAX_COOKIE_VALUE * 3 // 4) - NONCE_BYTES - 16  # 2822: base64 of nonce + it + tag fits
#: The first plaintext byte of a deflated session (raw DEFLATE, RFC 1951, follows).
DEFLATED = 0x01
#: What a deflated session may inflate to: more is refused (only idgate's key seals, but a bound is cheap).
MAX_INFLATED = 1 << 20


class SessionTooLarge(IdgateError):
    """A session needs more than :data:`MAX_CHUNKS` cookies even deflated: it cannot be a cookie session."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"session of {size} bytes sealed is more than {MAX_CHUNKS} cookies hold ({MAX_SEALED})"
        )
        self.size = size
        self.limit = MAX_SEALED


def deflate(raw: bytes) -> bytes:
    """``raw`` as it is when short (at most :data:`DEFLATE_ABOVE`) or when deflating does not pay, else
    :data:`DEFLATED` followed by its raw DEFLATE stream."""
    if len(raw) <= DEFLATE_ABOVE:
        return raw
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(raw) + packer.flush()
    return bytes((DEFLATED,)) + packed if len(packed) + 1 < len(raw) else raw


def inflate(plain: bytes) -> bytes | None:
    """The session bytes in an opened plaintext: itself, or inflated after :data:`DEFLATED`; ``None`` for a
    stream that is malformed, unfinished or inflates past :data:`MAX_INFLATED`."""
    if not plain or plain[0] != DEFLATED:
        return plain
    unpacker = zlib.decompressobj(-15)
    try:
        raw = unpacker.decompress(plain[1:], MAX_INFLATED)
    except zlib.error:
        return None
    return raw if unpacker.eof and not unpacker.unconsumed_tail and not unpacker.unused_data else None


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose from a configured secret (HKDF-SHA256, no salt)."""
    hkdf = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"idgate/v1/" + purpose.encode())
    return hkdf.derive(secret)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    """base64url without padding, strictly: ``binascii.Error`` or ``ValueError`` for anything else.

    ``binascii.a2b_base64`` on the text with ``-_`` mapped to ``+/`` (two ``str.replace``, faster than
    ``base64.urlsafe_b64decode``'s translate and its lenient decode, which skips foreign characters).
    """
    if "+" in text or "/" in text or "=" in text:
        raise binascii.Error("not base64url")
    standard = text.replace("-", "+").replace("_", "/")
    return binascii.a2b_base64(standard + "=" * (-len(text) % 4), strict_mode=True)


class Sealer:
    """Seals and opens byte strings for one purpose, with rotation across ``secrets`` (newest first)."""

    def __init__(
        self,
        secrets: Sequence[bytes],
        purpose: str,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not secrets:
            raise ValueError("at least one secret is needed")
        self._aeads = [AESGCM(derive_key(s, purpose)) for s in secrets]
        self._random = random

    def seal(self, plaintext: bytes, name: str) -> str:
        nonce = self._random(NONCE_BYTES)
        return _b64e(nonce + self._aeads[0].encrypt(nonce, plaintext, name.encode()))

    def open(self, sealed: str, name: str) -> bytes | None:
        """The plaintext, or ``None`` when ``sealed`` is malformed, altered, or sealed elsewhere."""
        if not sealed or len(sealed) > MAX_SEALED:
            return None
        try:
            raw = _b64d(sealed)
        except (binascii.Error, ValueError):
            return None
        if len(raw) < NONCE_BYTES + 16:
            return None
        nonce, body, aad = raw[:NONCE_BYTES], raw[NONCE_BYTES:], name.encode()
        for aead in self._aeads:
            try:
                return aead.decrypt(nonce, body, aad)
            except InvalidTag:
                continue
        return None


_CHUNK = re.compile(r"_(\d+)\Z")


def split_chunks(name: str, value: str) -> list[tuple[str, str]]:
    """The cookies to set for ``value``: ``[(name, value)]``, or ``name_0``, ``name_1``... when long."""
    if len(value) <= MAX_COOKIE_VALUE:
        return [(name, value)]
    if len(value) > MAX_SEALED:
        raise SessionTooLarge(len(value))
    parts = [value[i : i + MAX_COOKIE_VALUE] for i in range(0, len(value), MAX_COOKIE_VALUE)]
    return [(f"{name}_{i}", part) for i, part in enumerate(parts)]


def join_chunks(cookies: Mapping[str, str], name: str) -> str | None:
    """The value of cookie ``name``, reassembled from ``name_0``... when chunked; ``None`` if absent."""
    whole = cookies.get(name)
    if whole is not None:
        return whole
    parts: list[str] = []
    for i in range(MAX_CHUNKS):
        part = cookies.get(f"{name}_{i}")
        if part is None:
            break
        parts.append(part)
    return "".join(parts) if parts else None


def chunk_names(cookies: Mapping[str, str], name: str) -> list[str]:
    """Every cookie that belongs to ``name`` (itself and its chunks): what sign-out must clear."""
    return [
        c
        for c in cookies
        if c == name or (c.startswith(name) and _CHUNK.fullmatch(c[len(name) :]) is not None)
    ]

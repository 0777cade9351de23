"""The ``sub`` claim, encoded exactly as Dex encodes it, so records keyed by ``sub`` keep matching.

Dex serialises the protobuf message ``IDTokenSubject { string user_id = 1; string conn_id = 2; }`` and
base64url-encodes it without padding. Each field is written as: tag byte (``field << 3 | 2``, i.e.
``0x0A`` and ``0x12``), the UTF-8 length as a varint, the bytes. Protobuf omits empty strings, and so do
we.
"""

from __future__ import annotations

import base64
import binascii

_USER_ID_TAG = 0x0A  # field 1, wire type 2 (length-delimited)
_CONN_ID_TAG = 0x12  # field 2, wire type 2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(tag: int, value: str) -> bytes:
    data = value.encode("utf-8")
    return bytes([tag]) + _varint(len(data)) + data if data else b""


def encode_subject(user_id: str, conn_id: str) -> str:
    """Dex's ``sub`` for a user of a connector."""
    raw = _field(_USER_ID_TAG, user_id) + _field(_CONN_ID_TAG, conn_id)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 28:
            raise ValueError("truncated varint")
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode_subject(sub: str) -> tuple[str, str]:
    """``(user_id, conn_id)`` of a Dex ``sub``; :class:`ValueError` when it is not one."""
    try:
        raw = base64.b64decode(sub + "=" * (-len(sub) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("sub is not base64url") from None
    fields = {_USER_ID_TAG: "", _CONN_ID_TAG: ""}
    pos = 0
    while pos < len(raw):
        tag = raw[pos]
        if tag not in fields:
            raise ValueError(f"unexpected protobuf tag {tag:#x}")
        length, pos = _read_varint(raw, pos + 1)
        if pos + length > len(raw):
            raise ValueError("truncated field")
        try:
            fields[tag] = raw[pos : pos + length].decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("field is not UTF-8") from None
        pos += length
    return fields[_USER_ID_TAG], fields[_CONN_ID_TAG]

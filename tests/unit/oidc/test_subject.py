from __future__ import annotations

import base64

import pytest

from idgate.oidc.subject import decode_subject, encode_subject

USER_ID = "08a8684b-db88-4b73-90a9-3cd1661f5466"


def test_sub_of_the_kkp_admin_has_dex_byte_layout() -> None:
    # protobuf IDTokenSubject{user_id=1, conn_id=2}: 0x0A len(36)=0x24 <user id>, 0x12 len(5)=0x05 "local"
    expected = b"\x0a\x24" + USER_ID.encode() + b"\x12\x05" + b"local"
    sub = encode_subject(USER_ID, "local")
    assert base64.urlsafe_b64decode(sub + "=" * (-len(sub) % 4)) == expected
    assert "=" not in sub
    # the value Dex's documentation shows for this static password
    assert sub == "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"


def test_decode_reverses_encode() -> None:
    assert decode_subject(encode_subject(USER_ID, "local")) == (USER_ID, "local")


def test_lengths_over_127_use_a_multi_byte_varint() -> None:
    user = "u" * 300  # 300 = 0b10_0101100 -> varint 0xAC 0x02
    sub = encode_subject(user, "github")
    raw = base64.urlsafe_b64decode(sub + "=" * (-len(sub) % 4))
    assert raw[:3] == b"\x0a\xac\x02"
    assert decode_subject(sub) == (user, "github")


def test_non_ascii_lengths_count_utf8_bytes() -> None:
    sub = encode_subject("jürgen", "ldap")
    raw = base64.urlsafe_b64decode(sub + "=" * (-len(sub) % 4))
    assert raw[1] == len("jürgen".encode())
    assert decode_subject(sub) == ("jürgen", "ldap")


def test_empty_fields_are_omitted_like_protobuf() -> None:
    assert encode_subject("", "local") == base64.urlsafe_b64encode(b"\x12\x05local").decode().rstrip("=")
    assert decode_subject(encode_subject("", "")) == ("", "")


@pytest.mark.parametrize("bad", ["!!!", "CiQ", "GgVsb2NhbA", "CgVsb2M"])
def test_garbage_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_subject(bad)

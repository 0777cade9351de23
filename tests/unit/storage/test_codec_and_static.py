from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest
from tests.conformance.storage import every_kind

from idgate.errors import NotFound
from idgate.settings import ClientSettings, StaticPassword
from idgate.storage import Storage, open_storage
from idgate.storage.base import AuthCode, Claims, Client, Password, Record, SigningKey, SigningKeys
from idgate.storage.codec import decode, encode, stored_text
from idgate.storage.sql import async_url
from idgate.storage.static import (
    ReadOnly,
    StaticStorage,
    client_from_settings,
    password_from_settings,
)


def test_codec_round_trips_nested_records_tuples_and_optionals() -> None:
    code = AuthCode(
        id="h",
        client_id="c",
        redirect_uri="https://a/cb",
        scopes=("openid", "groups"),
        nonce="",
        code_challenge="",
        code_challenge_method="",
        connector_id="local",
        claims=Claims("u", "n", "e@x", True, groups=("a", "b")),
        issued_at=1.0,
        expires_at=2,  # JSON may hand back ints for floats
        redeemed_at=None,
    )
    back = decode(AuthCode, encode(code))
    assert back == code and isinstance(back.scopes, tuple) and isinstance(back.claims.groups, tuple)
    keys = SigningKeys(id="signing", keys=(SigningKey("k", "RS256", "pem", 1.0),), next_rotation=2.0)
    assert decode(SigningKeys, encode(keys)) == keys


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/idgate.db", "sqlite+aiosqlite:///data/idgate.db"),
        ("sqlite:////var/lib/idgate.db", "sqlite+aiosqlite:////var/lib/idgate.db"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_config_urls_map_to_async_drivers(url: str, expected: str) -> None:
    assert async_url(url) == expected


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    backend = await open_storage("sqlite:///:memory:")
    yield StaticStorage(
        backend,
        clients=[client_from_settings(ClientSettings(id="static", secret="s", redirect_uris=("https://a",)))],
        passwords=[
            password_from_settings(
                StaticPassword(email="Admin@Example.com", hash=b"$2a$10$x", username="admin", user_id="1")
            )
        ],
    )
    await backend.close()


async def test_static_records_are_found_and_listed_with_stored_ones(storage: Storage) -> None:
    assert (await storage.get(Client, "static")).redirect_uris == ("https://a",)
    assert (await storage.get(Password, "admin@example.com")).email == "Admin@Example.com"
    await storage.create(Client(id="dynamic", secret="d"))
    assert [c.id for c in await storage.list(Client)] == ["dynamic", "static"]
    with pytest.raises(NotFound):
        await storage.get(Client, "nobody")


async def test_static_records_are_read_only(storage: Storage) -> None:
    with pytest.raises(ReadOnly):
        await storage.create(Client(id="static", secret="other"))
    with pytest.raises(ReadOnly):
        await storage.update(Client, "static", lambda c: c)
    with pytest.raises(ReadOnly):
        await storage.delete(Client, "static")


async def test_an_update_may_not_create_a_record_the_config_file_defines(storage: Storage) -> None:
    await storage.create(Client(id="dynamic", secret="d"))
    with pytest.raises(ReadOnly):
        await storage.update(
            Client,
            "dynamic",
            lambda c: dataclasses.replace(c, secret="x"),
            create=[Client(id="static", secret="o")],
        )
    assert (await storage.get(Client, "dynamic")).secret == "d"


@pytest.mark.parametrize("record", every_kind(), ids=lambda r: type(r).__name__)
def test_every_kind_is_stored_as_its_fields_in_plain_json_and_read_back_equal(record: Record) -> None:
    """The stored text is the stdlib's rendering of the record's fields (the wire format records keep)."""
    text = encode(record)
    assert text == json.dumps(dataclasses.asdict(record), separators=(",", ":"), sort_keys=True)
    assert decode(type(record), text) == record


def test_decoding_again_after_a_change_reads_the_new_text() -> None:
    """The codec keeps the last record decoded of each kind; a changed text is never answered from it."""
    first = Client(id="c", secret="one")
    changed = dataclasses.replace(first, secret="two")
    assert decode(Client, encode(first)) == first
    assert decode(Client, encode(changed)) == changed
    assert decode(Client, encode(first)) == first
    assert decode(Client, encode(first)).secret == "one"


NON_ASCII = AuthCode(
    id="h",
    client_id="c",
    redirect_uri="https://a/cb",
    scopes=("openid",),
    nonce="",
    code_challenge="",
    code_challenge_method="",
    connector_id="local",
    claims=Claims("u", "José Müller", "jose@例え.jp", True, groups=("équipe", "☃")),
    issued_at=1.5,
    expires_at=1e16,
)


def test_text_an_earlier_release_wrote_is_read_back_equal() -> None:
    """Earlier releases stored ``json.dumps`` of the fields: non-ASCII as ``\\u`` escapes, ``1e+16``."""
    earlier = json.dumps(dataclasses.asdict(NON_ASCII), separators=(",", ":"), sort_keys=True)
    assert "\\u00e9" in earlier and "1e+16" in earlier
    assert decode(AuthCode, earlier) == NON_ASCII


def test_text_written_now_is_what_an_earlier_release_reads() -> None:
    """The same JSON document as before (UTF-8 where earlier releases escaped), so a database written now
    is still read by them: their reader was ``json.loads`` and the fields by name."""
    text = encode(NON_ASCII)
    assert json.loads(text) == json.loads(json.dumps(dataclasses.asdict(NON_ASCII)))
    assert list(json.loads(text)) == sorted(json.loads(text))  # keys sorted, as before


def test_values_of_another_type_than_the_field_are_read_as_earlier_releases_read_them() -> None:
    """A bool stored as 1 and a float as a string: not what the fields say, read leniently as before."""
    text = encode(Client(id="c", secret="s")).replace('"public":false', '"public":0')
    text = text.replace('"expires_at":null', '"expires_at":"5"')
    found = decode(Client, text)
    assert (found.public, found.expires_at) == (0, "5")


def test_a_string_json_cannot_carry_as_utf8_is_stored_escaped_and_read_back() -> None:
    client = Client(id="c", secret="s", name="lone \udc80 surrogate")
    text = encode(client)
    assert text.isascii() and "\\udc80" in text
    assert decode(Client, text) == client


def test_the_stored_text_of_a_record_just_read_is_the_text_it_was_read_from() -> None:
    """What a compare-and-swap expects: the text as stored (even in an earlier release's form), and for
    any other record its encoding."""
    earlier = json.dumps(dataclasses.asdict(NON_ASCII), separators=(",", ":"), sort_keys=True)
    read = decode(AuthCode, earlier)
    assert stored_text(read) == earlier
    other = dataclasses.replace(read, nonce="n")
    assert stored_text(other) == encode(other)

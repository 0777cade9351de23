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
from idgate.storage.codec import decode, encode
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

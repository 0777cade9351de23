from __future__ import annotations

import base64

import pytest

from idgate.oauth2.client_auth import authenticate
from idgate.oauth2.errors import InvalidClient, InvalidRequest
from idgate.oauth2.requests import (
    ClientCredentials,
    parse_basic_authorization,
    parse_client_credentials,
)
from idgate.storage.base import Client

CLIENT = Client(id="prometheus", secret="Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX")
PUBLIC = Client(id="cli", secret="", public=True)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_credentials_are_url_decoded() -> None:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before base64
    assert parse_basic_authorization(basic("my%3Aclient", "s%2Bx+y")) == ("my:client", "s+x y")


@pytest.mark.parametrize("header", ["Bearer abc", "Basic", "Basic !!!", basic("nocolon", "")[:-4]])
def test_malformed_basic_is_invalid_client(header: str) -> None:
    with pytest.raises(InvalidClient):
        parse_basic_authorization(header)


def test_basic_header_wins_and_post_is_recognised() -> None:
    creds = parse_client_credentials(basic("prometheus", "s"), {})
    assert creds == ClientCredentials("prometheus", "s", "client_secret_basic")
    creds = parse_client_credentials(None, {"client_id": ["prometheus"], "client_secret": ["s"]})
    assert creds == ClientCredentials("prometheus", "s", "client_secret_post")
    assert parse_client_credentials(None, {"client_id": ["cli"]}).method == "none"


def test_credentials_in_both_header_and_body_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        parse_client_credentials(basic("prometheus", "s"), {"client_secret": ["s"]})


def test_no_credentials_at_all_is_invalid_client() -> None:
    with pytest.raises(InvalidClient):
        parse_client_credentials(None, {})


def test_right_secret_authenticates() -> None:
    creds = ClientCredentials("prometheus", CLIENT.secret, "client_secret_basic")
    assert authenticate(creds, CLIENT) is CLIENT


@pytest.mark.parametrize("secret", ["wrong", "", CLIENT.secret + "x", CLIENT.secret[:-1]])
def test_wrong_secret_is_invalid_client(secret: str) -> None:
    with pytest.raises(InvalidClient):
        authenticate(ClientCredentials("prometheus", secret, "client_secret_post"), CLIENT)


def test_unknown_client_is_the_same_invalid_client() -> None:
    with pytest.raises(InvalidClient) as unknown:
        authenticate(ClientCredentials("nobody", "x", "client_secret_basic"), None)
    with pytest.raises(InvalidClient) as wrong:
        authenticate(ClientCredentials("prometheus", "x", "client_secret_basic"), CLIENT)
    assert unknown.value.description == wrong.value.description
    assert unknown.value.status == 401


def test_confidential_client_without_secret_is_refused() -> None:
    with pytest.raises(InvalidClient):
        authenticate(ClientCredentials("prometheus", None, "none"), CLIENT)


def test_public_client_needs_no_secret_but_a_secret_does_not_match() -> None:
    assert authenticate(ClientCredentials("cli", None, "none"), PUBLIC) is PUBLIC
    with pytest.raises(InvalidClient):
        authenticate(ClientCredentials("cli", "", "client_secret_post"), PUBLIC)

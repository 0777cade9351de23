from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from idgate.clock import FrozenClock
from idgate.oauth2 import pkce
from idgate.oauth2.errors import (
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from idgate.oauth2.grants.authorization_code import AuthorizationCodeGrant, issue_code, validate
from idgate.oauth2.requests import AuthorizationRequest, TokenRequest
from idgate.storage import Storage, open_storage
from idgate.storage.base import AuthRequest, Claims, Client

CB = "https://prometheus.kkp.example.com/oauth/callback"
CLIENT = Client(id="prometheus", secret="s", redirect_uris=(CB,))
OTHER = Client(id="grafana", secret="g", redirect_uris=("https://grafana/cb",))
PUBLIC = Client(id="cli", secret="", redirect_uris=("http://127.0.0.1:8000/cb",), public=True)
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = pkce.s256(VERIFIER)
CLAIMS = Claims(user_id="u1", username="admin", email="a@example.com", email_verified=True)


def request(**changes: object) -> AuthorizationRequest:
    fields: dict[str, object] = {
        "client_id": "prometheus",
        "redirect_uri": CB,
        "response_type": "code",
        "scopes": ("openid", "email"),
        "state": "xyz",
        "nonce": "n-1",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    fields.update(changes)
    return AuthorizationRequest(**fields)  # type: ignore[arg-type]


# -- /auth validation -----------------------------------------------------------------------------


def test_a_valid_request_passes() -> None:
    valid = validate(request(), CLIENT)
    assert (valid.redirect_uri, valid.state, valid.nonce) == (CB, "xyz", "n-1")
    assert valid.code_challenge_method == "S256"


@pytest.mark.parametrize(
    ("changes", "client"),
    [
        ({}, None),  # unknown client
        ({"client_id": ""}, CLIENT),
        ({"redirect_uri": ""}, CLIENT),
        ({"redirect_uri": CB + "/"}, CLIENT),  # exact string match only
        ({"redirect_uri": CB.upper()}, CLIENT),
        ({"redirect_uri": CB + "?x=1"}, CLIENT),
        ({"redirect_uri": "https://grafana/cb"}, CLIENT),  # another client's URI
    ],
)
def test_client_and_redirect_problems_never_redirect(
    changes: dict[str, object], client: Client | None
) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate(request(**changes), client)
    assert exc.value.redirect is None


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": ""}, InvalidRequest),
        ({"response_type": "token"}, UnsupportedResponseType),
        ({"response_type": "code id_token"}, UnsupportedResponseType),
        ({"scopes": ("email",)}, InvalidScope),
        ({"scopes": ("openid", "admin")}, InvalidScope),
        ({"code_challenge_method": "plain"}, InvalidRequest),
        ({"code_challenge": "short"}, InvalidRequest),
        ({"problem": "parameter state is repeated"}, InvalidRequest),
    ],
)
def test_later_problems_redirect_back_with_state(changes: dict[str, object], error: type[OAuthError]) -> None:
    with pytest.raises(error) as exc:
        validate(request(**changes), CLIENT)
    assert exc.value.redirect is not None
    assert (exc.value.redirect.redirect_uri, exc.value.redirect.state) == (CB, "xyz")


def test_public_clients_must_send_a_challenge() -> None:
    req = request(
        client_id="cli",
        redirect_uri=PUBLIC.redirect_uris[0],
        code_challenge="",
        code_challenge_method="",
    )
    with pytest.raises(InvalidRequest, match="PKCE") as exc:
        validate(req, PUBLIC)
    assert exc.value.redirect is not None


def test_confidential_clients_may_omit_pkce() -> None:
    valid = validate(request(code_challenge="", code_challenge_method=""), CLIENT)
    assert valid.code_challenge == ""


# -- /token redemption ----------------------------------------------------------------------------


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    storage = await open_storage("sqlite:///:memory:")
    yield storage
    await storage.close()


def pending(challenge: str = CHALLENGE, client: Client = CLIENT) -> AuthRequest:
    return AuthRequest(
        id="r",
        client_id=client.id,
        redirect_uri=client.redirect_uris[0],
        scopes=("openid", "email"),
        state="xyz",
        nonce="n-1",
        code_challenge=challenge,
        code_challenge_method="S256" if challenge else "",
        connector_id="local",
        browser="b",
        expires_at=2e9,
    )


async def issued(
    storage: Storage, clock: FrozenClock, challenge: str = CHALLENGE, client: Client = CLIENT
) -> str:
    code, record = issue_code(pending(challenge, client), CLAIMS, clock.now(), ttl=60)
    await storage.create(record)
    return code


def token(code: str, verifier: str = VERIFIER, redirect_uri: str = CB) -> TokenRequest:
    return TokenRequest("authorization_code", code, redirect_uri, verifier)


GRANT = AuthorizationCodeGrant()


async def test_code_is_random_and_stored_only_as_a_hash(storage: Storage) -> None:
    clock = FrozenClock()
    code, record = issue_code(pending(), CLAIMS, clock.now(), ttl=60)
    assert len(code) >= 43 and code not in record.id
    assert record.expires_at == clock.now() + 60


def test_code_lifetime_is_capped_at_60_seconds() -> None:
    _, record = issue_code(pending(), CLAIMS, 0.0, ttl=600)
    assert record.expires_at == 60.0


async def test_a_code_redeems_once_with_the_grant_it_was_issued_for(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    grant = await GRANT.exchange(storage, CLIENT, token(code), clock.now())
    assert (grant.client_id, grant.nonce, grant.claims) == ("prometheus", "n-1", CLAIMS)
    with pytest.raises(InvalidGrant, match="already used"):
        await GRANT.exchange(storage, CLIENT, token(code), clock.now())


async def test_an_expired_code_is_refused(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    clock.advance(60)
    with pytest.raises(InvalidGrant, match="expired"):
        await GRANT.exchange(storage, CLIENT, token(code), clock.now())


async def test_a_code_for_another_client_is_refused_and_stays_usable(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    with pytest.raises(InvalidGrant, match="another client"):
        await GRANT.exchange(storage, OTHER, token(code), clock.now())
    await GRANT.exchange(storage, CLIENT, token(code), clock.now())


async def test_redirect_uri_must_be_the_one_of_the_authorization(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    for wrong in ("", CB + "/", "https://evil.example/cb"):
        with pytest.raises(InvalidGrant, match="redirect_uri"):
            await GRANT.exchange(storage, CLIENT, token(code, redirect_uri=wrong), clock.now())


@pytest.mark.parametrize("verifier", ["", "x" * 43, VERIFIER[:-1] + "Y"])
async def test_pkce_mismatch_is_invalid_grant(storage: Storage, verifier: str) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    with pytest.raises(InvalidGrant):
        await GRANT.exchange(storage, CLIENT, token(code, verifier=verifier), clock.now())


async def test_verifier_without_a_challenge_is_refused(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock, challenge="")
    with pytest.raises(InvalidGrant, match="no challenge"):
        await GRANT.exchange(storage, CLIENT, token(code), clock.now())
    await GRANT.exchange(storage, CLIENT, token(code, verifier=""), clock.now())


async def test_public_client_must_send_a_verifier(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock, client=PUBLIC)
    req = token(code, verifier="", redirect_uri=PUBLIC.redirect_uris[0])
    with pytest.raises(UnauthorizedClient):
        await GRANT.exchange(storage, PUBLIC, req, clock.now())


async def test_unknown_and_missing_codes_are_refused(storage: Storage) -> None:
    with pytest.raises(InvalidGrant):
        await GRANT.exchange(storage, CLIENT, token("nope"), 0.0)
    with pytest.raises(InvalidRequest):
        await GRANT.exchange(storage, CLIENT, token(""), 0.0)

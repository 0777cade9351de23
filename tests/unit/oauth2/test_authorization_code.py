from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence

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
from idgate.oauth2.grants import Grant, GrantContext, RefreshPolicy
from idgate.oauth2.grants.authorization_code import AuthorizationCodeGrant, issue_code, validate
from idgate.oauth2.requests import AuthorizationRequest, TokenRequest
from idgate.storage import Storage, open_storage
from idgate.storage.base import AccessToken, AuthCode, AuthRequest, Claims, Client, Record, secret_id

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
        ({"response_type": "id_token"}, UnsupportedResponseType),
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


def test_confidential_clients_must_send_a_challenge_too() -> None:
    with pytest.raises(InvalidRequest, match="PKCE") as exc:
        validate(request(code_challenge="", code_challenge_method=""), CLIENT)
    assert exc.value.redirect is not None


def test_a_confidential_client_marked_require_pkce_false_may_omit_it() -> None:
    lax = dataclasses.replace(CLIENT, require_pkce=False)
    valid = validate(request(code_challenge="", code_challenge_method=""), lax)
    assert valid.code_challenge == ""
    # a public client cannot be marked out of PKCE
    assert dataclasses.replace(PUBLIC, require_pkce=False).pkce_required


def test_implicit_response_types_only_when_enabled_and_answered_in_the_fragment() -> None:
    with pytest.raises(UnsupportedResponseType) as exc:
        validate(request(response_type="id_token", code_challenge="", code_challenge_method=""), CLIENT)
    assert exc.value.redirect is not None and not exc.value.redirect.fragment
    enabled = ("code", "id_token", "id_token token")
    valid = validate(
        request(response_type="token id_token", code_challenge="", code_challenge_method=""),
        CLIENT,
        allowed_response_types=enabled,
    )
    assert valid.response_type == "id_token token"
    with pytest.raises(InvalidRequest, match="nonce") as exc:
        validate(
            request(response_type="id_token", nonce="", code_challenge="", code_challenge_method=""),
            CLIENT,
            allowed_response_types=enabled,
        )
    assert exc.value.redirect is not None and exc.value.redirect.fragment


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompt": "none login"}, "prompt=none"),
        ({"prompt": "bogus"}, "prompt"),
        ({"max_age": "-1"}, "max_age"),
        ({"max_age": "abc"}, "max_age"),
    ],
)
def test_bad_prompt_and_max_age_redirect_invalid_request(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as exc:
        validate(request(**changes), CLIENT)
    assert exc.value.redirect is not None


def test_allowed_connectors_restrict_the_connector_id_parameter() -> None:
    only_ldap = dataclasses.replace(CLIENT, allowed_connectors=("ldap",))
    assert validate(request(connector_id="ldap"), only_ldap).connector_id == "ldap"
    with pytest.raises(InvalidRequest, match="connector") as exc:
        validate(request(connector_id="local"), only_ldap)
    assert exc.value.redirect is not None


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


async def _no_refresh(
    connector_id: str, scopes: tuple[str, ...], claims: Claims, data: str
) -> tuple[Claims, str]:
    return claims, data


async def exchange(
    storage: Storage, client: Client, req: TokenRequest, now: float, issued: Sequence[Record] = ()
) -> Grant:
    """The grant, completed as the token endpoint completes it: the code redeemed with ``issued``."""
    grant = await check(storage, client, req, now)
    assert grant.complete is not None
    await grant.complete(issued)
    return grant


async def check(storage: Storage, client: Client, req: TokenRequest, now: float) -> Grant:
    """The grant before its completion: the code checked, not yet redeemed."""
    ctx = GrantContext(storage=storage, now=now, refresh=RefreshPolicy(), refresh_identity=_no_refresh)
    return await GRANT.exchange(ctx, client, req)


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
    grant = await exchange(storage, CLIENT, token(code), clock.now())
    assert (grant.client_id, grant.nonce, grant.claims) == ("prometheus", "n-1", CLAIMS)
    assert grant.grant_id
    with pytest.raises(InvalidGrant, match="already used"):
        await exchange(storage, CLIENT, token(code), clock.now())


def access_token(id: str, grant: Grant, now: float) -> AccessToken:
    return AccessToken(
        id=id,
        client_id=CLIENT.id,
        scopes=("openid",),
        connector_id="local",
        claims=CLAIMS,
        issued_at=now,
        expires_at=now + 60,
        grant_id=grant.grant_id,
    )


async def test_a_second_redemption_revokes_what_the_first_issued(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    grant = await exchange(storage, CLIENT, token(code), clock.now())
    await storage.create(access_token("a", grant, clock.now()))
    with pytest.raises(InvalidGrant, match="already used"):
        await exchange(storage, CLIENT, token(code), clock.now())
    assert await storage.find(AccessToken, grant_id=grant.grant_id) == []


async def test_the_code_is_spent_only_with_the_tokens_issued_for_it(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    grant = await check(storage, CLIENT, token(code), clock.now())
    stored = await storage.get(AuthCode, secret_id(code))
    assert stored.redeemed_at is None  # checked, not spent: nothing was issued yet
    assert grant.complete is not None
    await grant.complete([access_token("a", grant, clock.now())])
    stored = await storage.get(AuthCode, secret_id(code))
    assert (stored.redeemed_at, stored.grant_id) == (clock.now(), grant.grant_id)
    assert [t.id for t in await storage.find(AccessToken, grant_id=grant.grant_id)] == ["a"]


async def test_of_two_exchanges_racing_with_one_code_the_later_is_a_replay(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    first = await check(storage, CLIENT, token(code), clock.now())
    second = await check(storage, CLIENT, token(code), clock.now())  # both checked before either wrote
    assert first.complete is not None and second.complete is not None
    await first.complete([access_token("first", first, clock.now())])
    with pytest.raises(InvalidGrant, match="already used"):
        await second.complete([access_token("second", second, clock.now())])
    assert await storage.find(AccessToken, grant_id=first.grant_id) == []  # the first's are revoked
    assert await storage.find(AccessToken, grant_id=second.grant_id) == []  # the second's never written


async def test_an_expired_code_is_refused(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    clock.advance(60)
    with pytest.raises(InvalidGrant, match="expired"):
        await exchange(storage, CLIENT, token(code), clock.now())


async def test_a_code_for_another_client_is_refused_and_stays_usable(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    with pytest.raises(InvalidGrant, match="another client"):
        await exchange(storage, OTHER, token(code), clock.now())
    await exchange(storage, CLIENT, token(code), clock.now())


async def test_redirect_uri_must_be_the_one_of_the_authorization(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    for wrong in ("", CB + "/", "https://evil.example/cb"):
        with pytest.raises(InvalidGrant, match="redirect_uri"):
            await exchange(storage, CLIENT, token(code, redirect_uri=wrong), clock.now())


@pytest.mark.parametrize("verifier", ["", "x" * 43, VERIFIER[:-1] + "Y"])
async def test_pkce_mismatch_is_invalid_grant(storage: Storage, verifier: str) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock)
    with pytest.raises(InvalidGrant):
        await exchange(storage, CLIENT, token(code, verifier=verifier), clock.now())


async def test_verifier_without_a_challenge_is_refused(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock, challenge="")
    with pytest.raises(InvalidGrant, match="no challenge"):
        await exchange(storage, CLIENT, token(code), clock.now())
    await exchange(storage, CLIENT, token(code, verifier=""), clock.now())


async def test_public_client_must_send_a_verifier(storage: Storage) -> None:
    clock = FrozenClock()
    code = await issued(storage, clock, client=PUBLIC)
    req = token(code, verifier="", redirect_uri=PUBLIC.redirect_uris[0])
    with pytest.raises(UnauthorizedClient):
        await exchange(storage, PUBLIC, req, clock.now())


async def test_unknown_and_missing_codes_are_refused(storage: Storage) -> None:
    with pytest.raises(InvalidGrant):
        await exchange(storage, CLIENT, token("nope"), 0.0)
    with pytest.raises(InvalidRequest):
        await exchange(storage, CLIENT, token(""), 0.0)

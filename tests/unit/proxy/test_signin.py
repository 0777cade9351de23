"""The sign-in steps without a server (:mod:`idgate.proxy.signin`): what :meth:`SignIn.start` asks the
provider for, what :meth:`SignIn.finish` refuses and keeps, when :meth:`SignIn.renew` ends a session, and
where sign-out goes; the provider is a stand-in that answers from memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from tests.unit.edge.conftest import alice, proxy_settings

from idgate.oidc.client import IdTokenInvalid, ProviderMetadata, ProviderUnavailable, TokenRequestRefused
from idgate.proxy.csrf import LoginState
from idgate.proxy.failures import LoginStateInvalid, MissingCode, ProviderRefused
from idgate.proxy.signin import SignIn
from idgate.sessions.refresh import RefusedRefresh

NOW = 1_800_000_000.0
ISSUER = "http://idp.test/dex"
META = ProviderMetadata(
    issuer=ISSUER,
    authorization_endpoint=ISSUER + "/auth?tenant=1",
    token_endpoint=ISSUER + "/token",
    jwks_uri=ISSUER + "/keys",
    userinfo_endpoint=ISSUER + "/userinfo",
    end_session_endpoint=ISSUER + "/logout",
)
CLAIMS = {
    "sub": "alice-sub",
    "email": "alice@example.com",
    "email_verified": True,
    "groups": ["org"],
    "preferred_username": "alice",
}


@dataclass
class Provider:
    """Answers like :class:`~idgate.oidc.client.ProviderClient`, from memory; records what it was asked."""

    meta: ProviderMetadata | None = META
    tokens: dict[str, Any] = field(default_factory=lambda: {"id_token": "id.tok.en", "access_token": "at"})
    claims: dict[str, Any] = field(default_factory=lambda: dict(CLAIMS))
    refused: bool = False
    asked: list[tuple[str, Any]] = field(default_factory=list)

    async def metadata(self) -> ProviderMetadata:
        if self.meta is None:
            raise ProviderUnavailable("discovery unreachable: ClientConnectorError")
        return self.meta

    async def exchange_code(self, **form: str) -> dict[str, Any]:
        self.asked.append(("code", form))
        return dict(self.tokens)

    async def refresh(self, **form: str) -> dict[str, Any]:
        self.asked.append(("refresh", form))
        if self.refused:
            raise TokenRequestRefused("token endpoint refused the refresh token: invalid_grant")
        return dict(self.tokens)

    async def verify(self, token: str, *, client_id: str, nonce: str | None) -> dict[str, Any]:
        self.asked.append(("verify", (token, client_id, nonce)))
        return dict(self.claims)

    async def complete_claims(
        self, claims: dict[str, Any], access_token: object, **names: str
    ) -> dict[str, Any]:
        return dict(claims)

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        self.asked.append(("userinfo", access_token))
        return dict(self.claims)


def signin(provider: Provider | None = None, **settings: object) -> SignIn:
    return SignIn(proxy_settings("http://up", **settings), provider or Provider())  # type: ignore[arg-type]


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def test_start_asks_for_a_code_with_state_nonce_and_pkce_on_the_configured_host() -> None:
    started = await signin().start("https://evil.example/", proto="http", now=NOW)
    assert started.location.startswith(ISSUER + "/auth?tenant=1&")
    q = query_of(started.location)
    login = started.login
    assert (q["state"], q["nonce"], q["code_challenge"]) == (login.state, login.nonce, login.code_challenge)
    assert q["code_challenge_method"] == "S256" and q["response_type"] == "code"
    assert q["redirect_uri"] == "http://app.test:8080/oauth/callback"
    assert login.rd == "/" and login.expires == NOW + 15 * 60  # an rd off the host is never kept
    assert q["prompt"] == "consent"  # approval_prompt: force, OAuth2-Proxy's default


async def test_start_keeps_an_rd_on_the_host_and_prompt_wins_over_approval_prompt() -> None:
    started = await signin(prompt="login").start("/graphs?x=1", proto="https", now=NOW)
    assert started.login.rd == "/graphs?x=1" and query_of(started.location)["prompt"] == "login"
    started = await signin(approval_prompt="auto").start(None, proto="https", now=NOW)
    assert started.login.rd == "/" and "prompt" not in query_of(started.location)


def login_state() -> LoginState:
    return LoginState(state="st", nonce="no", verifier="ve", rd="/", expires=NOW + 60)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"state": "other", "code": "c"}, LoginStateInvalid),
        ({"state": "st", "error": "access_denied"}, ProviderRefused),
        ({"state": "st"}, MissingCode),
    ],
)
async def test_finish_refuses_before_asking_the_provider(
    query: dict[str, str], error: type[Exception]
) -> None:
    provider = Provider()
    with pytest.raises(error):
        await signin(provider).finish(login_state(), query, proto="https", now=NOW, sid="sid-1")
    assert provider.asked == []


async def test_finish_exchanges_the_code_and_verifies_with_the_nonce() -> None:
    provider = Provider(tokens={"id_token": "id.tok.en", "access_token": "at", "refresh_token": "rt"})
    query = {"state": "st", "code": "the-code"}
    session = await signin(provider).finish(login_state(), query, proto="https", now=NOW, sid="sid-1")
    [(_, form), (_, verified)] = provider.asked
    assert form["code"] == "the-code" and form["verifier"] == "ve"
    assert form["redirect_uri"] == "https://app.test:8080/oauth/callback"
    assert verified == ("id.tok.en", "app", "no")
    assert (session.user, session.sid, session.groups) == ("alice-sub", "sid-1", ("org",))
    assert session.expires_at == NOW + signin().settings.cookie_expire
    # only what a feature needs: the ID token for sign-out's id_token_hint, no refresh or access token
    assert (session.id_token, session.refresh_token, session.access_token) == ("id.tok.en", None, None)


async def test_renew_reads_the_person_again_and_keeps_the_session_id() -> None:
    provider = Provider(tokens={"access_token": "at2"})  # no ID token: UserInfo is asked
    old = alice(sid="sid-1", refresh_token="rt", created_at=NOW - 4000)
    fresh = await signin(provider, cookie_refresh=3600.0).renew(old, NOW)
    assert ("userinfo", "at2") in provider.asked
    assert (fresh.sid, fresh.created_at, fresh.refresh_token) == ("sid-1", NOW, "rt")


async def test_renew_ends_the_session_when_refused_or_answered_for_someone_else() -> None:
    old = alice(sid="sid-1", refresh_token="rt")
    with pytest.raises(RefusedRefresh, match="invalid_grant"):
        await signin(Provider(refused=True), cookie_refresh=3600.0).renew(old, NOW)
    other = Provider(claims={**CLAIMS, "sub": "mallory"})
    with pytest.raises(RefusedRefresh, match="invalid answer: the refreshed identity is another person"):
        await signin(other, cookie_refresh=3600.0).renew(old, NOW)
    unverified = Provider(claims={**CLAIMS, "email_verified": False})
    with pytest.raises(RefusedRefresh) as info:
        await signin(unverified, cookie_refresh=3600.0).renew(old, NOW)
    assert isinstance(info.value.__cause__, IdTokenInvalid)


async def test_sign_out_goes_through_the_providers_end_session_endpoint_when_it_has_one() -> None:
    url = await signin().end_session_url("/bye", "https", "id.tok.en")
    assert url is not None and url.startswith(ISSUER + "/logout?")
    assert query_of(url) == {
        "id_token_hint": "id.tok.en",
        "client_id": "app",
        "post_logout_redirect_uri": "https://app.test:8080/bye",
    }
    assert await signin(Provider(meta=None)).end_session_url("/bye", "https", None) is None

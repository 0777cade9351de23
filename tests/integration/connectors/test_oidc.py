"""The oidc connector against the fake OpenID Connect provider (``tests/fakes/oidc.py``)."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from tests.conformance.callback_connectors import CALLBACK, SCOPES, Refreshes, sign_in
from tests.fakes.oidc import FakeOIDC
from tests.fakes.server import serve
from tests.fakes.tls import CertAuthority, make_ca

from idgate.clock import SystemClock
from idgate.connectors.errors import CallbackInvalid, LoginRefused, UpstreamFailed
from idgate.connectors.oidc import OIDCConfig, OIDCConnector
from idgate.oauth2.pkce import s256

USERS = {
    "alice": {
        "sub": "u-alice",
        "name": "Alice Liddell",
        "email": "alice@example.com",
        "email_verified": True,
        "preferred_username": "alice",
        "groups": ["admins", "devs"],
        "login": "ali",
        "mail": "alice@corp.example",
        "roles": "ops",
    },
    "eve": {"sub": "u-eve", "name": "Eve", "email": "eve@example.com"},  # no email_verified
}


class Driver:
    expected_user_id = "u-alice"
    expected_email = "alice@example.com"
    expected_groups = ("admins", "devs")

    def __init__(self, fake: FakeOIDC) -> None:
        self.fake = fake

    def allow(self) -> None:
        self.fake.login_as = "alice"

    def refuse(self) -> None:
        raise NotImplementedError

    def lose_access(self) -> None:
        self.fake.revoke("alice")

    def send_email(self, email: str) -> None:
        self.fake.users["alice"]["email"] = email


@pytest.fixture
def fake() -> FakeOIDC:
    return FakeOIDC(users={k: dict(v) for k, v in USERS.items()})


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def origin(fake: FakeOIDC) -> AsyncIterator[str]:
    async with serve(fake.app()) as url:
        fake.issuer = url
        yield url


async def make(origin: str, http: aiohttp.ClientSession, **config: Any) -> OIDCConnector:
    base = {
        "issuer": origin,
        "clientID": "oidc-client",
        "clientSecret": "oidc-secret",
        "insecureEnableGroups": True,
    }
    conn = OIDCConnector(
        "upstream", "Upstream", OIDCConfig.model_validate({**base, **config}), http, SystemClock()
    )
    await conn.prepare()
    return conn


class TestOIDCConformance(Refreshes):
    @pytest.fixture
    async def connector(self, origin: str, http: aiohttp.ClientSession) -> AsyncIterator[Any]:
        yield await make(origin, http)

    @pytest.fixture
    def upstream(self, fake: FakeOIDC) -> Driver:
        return Driver(fake)


async def login(
    conn: OIDCConnector, fake: FakeOIDC, who: str = "alice", scopes: tuple[str, ...] = SCOPES
) -> Any:
    fake.login_as = who
    return await conn.handle_callback(scopes, CALLBACK, await sign_in(conn, scopes=scopes))


async def test_sends_nonce_pkce_and_prompt(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(origin, http)
    url = conn.login_url(SCOPES, CALLBACK, "st-1")
    q = dict(parse_qsl(urlsplit(url).query))
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["nonce"]) == 43 and q["prompt"] == "consent"
    assert q["scope"] == "openid profile email offline_access"
    other = dict(parse_qsl(urlsplit(conn.login_url(SCOPES, CALLBACK, "st-2")).query))
    assert other["nonce"] != q["nonce"] and other["code_challenge"] != q["code_challenge"]
    assert "nonce" not in s256(q["nonce"])


async def test_wrong_nonce_is_rejected(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    fake.nonce_override = "someone-elses"
    with pytest.raises(UpstreamFailed, match="nonce"):
        await login(await make(origin, http), fake)


async def test_state_swapped_breaks_pkce(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(origin, http)
    fake.login_as = "alice"
    query = await sign_in(conn, state="state-one")
    with pytest.raises(Exception, match="invalid_grant"):
        await conn.handle_callback(SCOPES, CALLBACK, {**query, "state": "state-two"})


async def test_claim_mapping_and_keys(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    mapping = {"preferred_username": "login", "email": "mail", "groups": "roles"}
    conn = await make(origin, http, userIDKey="mail", userNameKey="login", claimMapping=mapping)
    identity = await login(conn, fake)
    assert identity.user_id == "alice@corp.example" and identity.username == "ali"
    # As Dex: a standard claim that is present wins; claimMapping is the fallback ...
    assert (identity.preferred_username, identity.email) == ("alice", "alice@example.com")
    assert identity.groups == ("admins", "devs")
    for claim in ("preferred_username", "email", "groups"):
        del fake.users["alice"][claim]
    identity = await login(conn, fake)
    assert (identity.preferred_username, identity.email, identity.groups) == (
        "ali",
        "alice@corp.example",
        ("ops",),
    )


async def test_override_claim_mapping(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    mapping = {"preferred_username": "login", "email": "mail", "groups": "roles"}
    conn = await make(origin, http, overrideClaimMapping=True, claimMapping=mapping)
    identity = await login(conn, fake)
    # ... and with overrideClaimMapping the mapped claims win even when the standard ones are there
    assert (identity.preferred_username, identity.email, identity.groups) == (
        "ali",
        "alice@corp.example",
        ("ops",),
    )


async def test_groups_only_when_enabled(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    assert (await login(await make(origin, http, insecureEnableGroups=False), fake)).groups == ()


async def test_missing_email_verified(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    with pytest.raises(UpstreamFailed, match="email_verified"):
        await login(await make(origin, http), fake, "eve")
    identity = await login(await make(origin, http, insecureSkipEmailVerified=True), fake, "eve")
    assert identity.email_verified is True


async def test_userinfo_is_merged(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    fake.userinfo_claims = lambda login: {"sub": "u-alice", "name": "Alice from userinfo"}  # type: ignore[method-assign]
    identity = await login(await make(origin, http, getUserInfo=True), fake)
    assert identity.username == "Alice from userinfo"


async def test_overrides_and_prompt(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(
        origin,
        http,
        promptType="",
        providerDiscoveryOverrides={"authURL": "https://elsewhere.example/authorize"},
    )
    url = conn.login_url(SCOPES, CALLBACK, "s")
    assert url.startswith("https://elsewhere.example/authorize?") and "prompt=" not in url


async def test_no_refresh_token_without_offline_access(
    origin: str, http: aiohttp.ClientSession, fake: FakeOIDC
) -> None:
    conn = await make(origin, http)
    identity = await login(conn, fake, scopes=("openid", "email"))
    with pytest.raises(LoginRefused, match="refresh token"):
        await conn.refresh(("openid", "email"), identity)


async def test_unreachable_issuer_fails_closed(http: aiohttp.ClientSession) -> None:
    conn = OIDCConnector("u", "U", OIDCConfig(issuer="http://127.0.0.1:1", clientID="c"), http, SystemClock())
    with pytest.raises(UpstreamFailed, match="unreachable"):
        await conn.prepare()
    with pytest.raises(UpstreamFailed, match="not been reached"):
        conn.login_url(SCOPES, CALLBACK, "s")


# --- basicAuthUnsupported -------------------------------------------------------------------------------


async def test_basic_auth_by_default(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    fake.basic_auth_only = True
    await login(await make(origin, http), fake)
    assert fake.last_client_auth == "client_secret_basic"
    await login(await make(origin, http, basicAuthUnsupported=False), fake)
    assert fake.last_client_auth == "client_secret_basic"


async def test_basic_auth_unsupported_posts_the_secret(
    origin: str, http: aiohttp.ClientSession, fake: FakeOIDC
) -> None:
    fake.post_auth_only = True
    with pytest.raises(CallbackInvalid, match="invalid_client"):
        await login(await make(origin, http), fake)
    conn = await make(origin, http, basicAuthUnsupported=True)
    identity = await login(conn, fake)
    assert fake.last_client_auth == "client_secret_post"
    fake.last_client_auth = ""
    await conn.refresh(SCOPES, identity)  # the refresh grant authenticates the same way
    assert fake.last_client_auth == "client_secret_post"


# --- hostedDomains (deprecated in Dex's oidc connector, still honoured) -----------------------------------


async def test_hosted_domains(
    origin: str, http: aiohttp.ClientSession, fake: FakeOIDC, caplog: pytest.LogCaptureFixture
) -> None:
    fake.users["alice"]["hd"] = "example.com"
    fake.users["eve"]["email_verified"] = True
    with caplog.at_level(logging.WARNING, "idgate.connectors"):
        conn = await make(origin, http, hostedDomains=["example.com"])
    assert "hostedDomains is deprecated" in caplog.text
    assert dict(parse_qsl(urlsplit(conn.login_url(SCOPES, CALLBACK, "s")).query))["hd"] == "example.com"
    assert (await login(conn, fake)).user_id == "u-alice"
    with pytest.raises(LoginRefused, match="no hosted domain"):
        await login(conn, fake, "eve")  # a consumer account: no hd claim at all

    several = await make(origin, http, hostedDomains=["corp.example", "example.com"])
    assert dict(parse_qsl(urlsplit(several.login_url(SCOPES, CALLBACK, "s")).query))["hd"] == "*"
    assert (await login(several, fake)).user_id == "u-alice"

    other = await make(origin, http, hostedDomains=["corp.example"])
    with pytest.raises(LoginRefused, match=r"'example\.com', not in corp\.example"):
        await login(other, fake)
    assert "hd=" not in (await make(origin, http)).login_url(SCOPES, CALLBACK, "s")


# --- acrValues, pkceChallenge ---------------------------------------------------------------------------


async def test_acr_values_are_sent(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    conn = await make(origin, http, acrValues=["urn:mace:incommon:iap:silver", "phr"])
    await login(conn, fake)
    assert fake.last_auth["acr_values"] == "urn:mace:incommon:iap:silver phr"
    await login(await make(origin, http), fake)
    assert "acr_values" not in fake.last_auth


async def test_pkce_challenge_methods(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    await login(await make(origin, http, pkceChallenge="plain"), fake)
    assert fake.last_auth["code_challenge_method"] == "plain" and len(fake.last_auth["code_challenge"]) == 43
    await login(await make(origin, http, pkceChallenge="S256"), fake)
    assert fake.last_auth["code_challenge_method"] == "S256"


# --- allowedGroups, claimModifications -------------------------------------------------------------------


async def test_allowed_groups(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    identity = await login(await make(origin, http, allowedGroups=["devs", "sre"]), fake)
    assert identity.groups == ("devs",)
    with pytest.raises(LoginRefused, match="none of the groups sre"):
        await login(await make(origin, http, allowedGroups=["sre"]), fake)
    # enforced even without insecureEnableGroups (Dex would let everyone in), but no groups are emitted
    quiet = await make(origin, http, insecureEnableGroups=False, allowedGroups=["admins"])
    assert (await login(quiet, fake)).groups == ()
    with pytest.raises(LoginRefused):
        await login(await make(origin, http, insecureEnableGroups=False, allowedGroups=["sre"]), fake)


async def test_claim_modifications(origin: str, http: aiohttp.ClientSession, fake: FakeOIDC) -> None:
    fake.users["alice"]["org"] = "acme:corp"
    mods = {
        "filterGroupClaims": {"groupsFilter": "^adm"},
        "newGroupFromClaims": [
            {
                "claims": ["org", "preferred_username", "missing"],
                "delimiter": ":",
                "prefix": "u",
                "clearDelimiter": True,
            },
            {"claims": ["missing"], "prefix": "never"},
        ],
        "modifyGroupNames": {"prefix": "oidc:", "suffix": "!"},
    }
    identity = await login(await make(origin, http, claimModifications=mods), fake)
    assert identity.groups == ("oidc:admins!", "oidc:u:acmecorp:alice!")


# --- rootCAs, insecureSkipVerify: the upstream over HTTPS with a private CA --------------------------------


@pytest.fixture
async def tls_origin(fake: FakeOIDC, tmp_path: Path) -> AsyncIterator[tuple[str, CertAuthority]]:
    ca = make_ca(tmp_path / "upstream")
    async with serve(fake.app(), tls=ca.server_context()) as url:
        fake.issuer = url
        yield url, ca


@pytest.mark.parametrize("form", ["path", "base64", "pem"])
async def test_root_cas(
    tls_origin: tuple[str, CertAuthority], http: aiohttp.ClientSession, fake: FakeOIDC, form: str
) -> None:
    origin, ca = tls_origin
    with pytest.raises(UpstreamFailed, match="TLS certificate not trusted"):
        await make(origin, http)
    value = {
        "path": str(ca.ca_file),
        "base64": base64.b64encode(ca.ca_file.read_bytes()).decode(),
        "pem": ca.ca_pem,
    }[form]
    conn = await make(origin, http, getUserInfo=True, rootCAs=["", value])  # discovery, token, JWKS, userinfo
    identity = await login(conn, fake)
    assert identity.user_id == "u-alice"
    assert (await conn.refresh(SCOPES, identity)).user_id == "u-alice"


async def test_root_cas_add_to_the_system_store(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    import ssl

    from idgate.connectors.http import upstream_tls

    ca = make_ca(tmp_path / "x")
    ctx = upstream_tls([str(ca.ca_file)])
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    system = ssl.create_default_context().cert_store_stats()["x509_ca"]
    assert ctx.cert_store_stats()["x509_ca"] == system + 1
    assert upstream_tls([]) is None and upstream_tls([""]) is None


async def test_insecure_skip_verify(
    tls_origin: tuple[str, CertAuthority],
    http: aiohttp.ClientSession,
    fake: FakeOIDC,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    origin, _ = tls_origin
    stranger = make_ca(tmp_path / "stranger")
    with pytest.raises(UpstreamFailed, match="TLS certificate not trusted"):
        await make(origin, http, rootCAs=[str(stranger.ca_file)])
    with caplog.at_level(logging.WARNING, "idgate.connectors"):
        conn = await make(origin, http, insecureSkipVerify=True)
    assert f"insecureSkipVerify is set, the TLS certificate of {origin} is not verified" in caplog.text
    assert (await login(conn, fake)).user_id == "u-alice"


def test_unusable_root_cas_are_config_errors(tmp_path: Path) -> None:
    from idgate.connectors.registry import build_connectors
    from idgate.errors import ConfigError
    from idgate.settings import ConnectorSettings

    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    good = make_ca(tmp_path / "ok").ca_file
    config = {
        "issuer": "https://upstream.example",
        "clientID": "c",
        "rootCAs": [str(good), str(not_pem)],
    }
    for bad, message in (
        (str(not_pem), f"{not_pem} holds no PEM certificate"),
        (base64.b64encode(b"hello").decode(), "base64 data that decodes to no PEM certificate"),
        ("/no/such/ca.pem", "neither a readable file, nor base64-encoded PEM, nor a PEM certificate"),
    ):
        entry = ConnectorSettings(
            type="oidc", id="o", name="O", config={**config, "rootCAs": [str(good), bad]}
        )
        with pytest.raises(ConfigError) as info:
            build_connectors([entry], storage=None, clock=SystemClock(), http=None)  # type: ignore[arg-type]
        assert [str(p) for p in info.value.problems] == [f"dex.connectors[0].config.rootCAs[1]: {message}"]

"""Login throttling per LDAP entry against a real slapd (``userSearch.username: uid,mail``): failures typed
as the uid and as the mail of one entry count on one counter; unknown names still count per typed name;
an entry whose ``mail`` is not one usable address refuses the login with a page that says so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import ClientResponse
from tests.integration.connectors.slapd import ADMIN_DN, ADMIN_PW, SUFFIX, Slapd, start_slapd, stop_slapd
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import with_clients
from tests.unit.provider.support import Provider

from idgate.settings import ClientSettings, ConnectorSettings, LoginLimits, ProviderSettings

APP_CB = "https://app.example.com/oauth/callback"
LIMITS = LoginLimits(account_failures=4, address_failures=1000, window=600, lockout=600, failure_delay=0)


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield server
    stop_slapd(server)


def ldap_provider_settings(server: Slapd) -> ProviderSettings:
    ldap = ConnectorSettings(
        type="ldap",
        id="ldap",
        name="Directory",
        config={
            "host": f"127.0.0.1:{server.port}",
            "insecureNoSSL": True,
            "bindDN": ADMIN_DN,
            "bindPW": ADMIN_PW,
            "userSearch": {
                "baseDN": f"ou=People,{SUFFIX}",
                "username": "uid,mail",
                "idAttr": "uid",
                "emailAttr": "mail",
            },
        },
    )
    app = ClientSettings(id="app", secret="a" * 32, redirect_uris=(APP_CB,), allowed_connectors=("ldap",))
    return with_clients(app, connectors=(ldap,), login_limits=LIMITS)


async def attempt(provider: Provider, login: str, password: str) -> ClientResponse:
    req = await provider.start_login(client_id="app", redirect_uri=APP_CB, prompt="login")
    return await provider.client.post(
        "/dex/auth/ldap/login",
        data={"req": req, "login": login, "password": password},
        allow_redirects=False,
    )


async def test_failures_typed_as_uid_and_as_mail_lock_the_one_entry(make: Make, slapd: Slapd) -> None:
    provider = await make(ldap_provider_settings(slapd))
    for login in ("bob", "bob@example.org", "BOB", "bob@example.org"):  # 4 = account_failures, in total
        resp = await attempt(provider, login, "wrong")
        assert resp.status == 200 and "Invalid email or password" in await resp.text()
    for login in ("bob", "bob@example.org"):
        locked = await attempt(provider, login, "bob-pw")
        assert locked.status == 429, login  # the right password, under either name, is not even checked
    assert (await attempt(provider, "alice", "alice-pw")).status == 303  # another entry is not locked


async def test_a_success_under_one_name_clears_the_entry_for_both(make: Make, slapd: Slapd) -> None:
    provider = await make(ldap_provider_settings(slapd))
    for login in ("alice", "alice@example.org", "alice"):
        assert (await attempt(provider, login, "wrong")).status == 200
    assert (await attempt(provider, "alice@example.org", "alice-pw")).status == 303
    for login in ("alice", "alice@example.org", "alice"):
        assert (await attempt(provider, login, "wrong")).status == 200
    assert (await attempt(provider, "alice", "alice-pw")).status == 303


async def test_unknown_names_are_counted_per_typed_name(make: Make, slapd: Slapd) -> None:
    provider = await make(ldap_provider_settings(slapd))
    for _ in range(4):
        assert (await attempt(provider, "nobody", "wrong")).status == 200
    assert (await attempt(provider, "nobody", "wrong")).status == 429
    assert (await attempt(provider, "nobody@example.org", "wrong")).status == 200
    assert (await attempt(provider, "bob", "bob-pw")).status == 303


async def test_an_unusable_mail_attribute_refuses_the_login_with_a_page(make: Make, slapd: Slapd) -> None:
    """mallory's entry holds ``mail: attacker@evil.com@example.org``: the right password gets a page that
    says the directory's address cannot be used, no code and no session."""
    provider = await make(ldap_provider_settings(slapd))
    resp = await attempt(provider, "mallory", "mallory-pw")
    body = await resp.text()
    assert resp.status == 403, body
    assert "sent an email address idgate cannot use (more than one @)" in body
    assert "Location" not in resp.headers and "idgate_session" not in resp.headers.get("Set-Cookie", "")

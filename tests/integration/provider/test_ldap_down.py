"""Password logins through the ``ldap`` connector while the directory (a real slapd of the test's own) is
down: the login page again with 503 and words that say the directory is unreachable, nothing stored (no
SSO session, no failure counted, the pending login as it was); the first login once it is back works.
The ``password`` grant answers ``temporarily_unavailable`` the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientResponse
from tests.integration.connectors.slapd import (
    Slapd,
    connector_config,
    restart_slapd,
    start_slapd,
    stop_slapd,
)
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import BASIC, settings
from tests.unit.provider.support import Provider, auth_params, hidden_req, query_of

from idgate.connectors.ldap import LDAPConfig, LDAPConnector
from idgate.storage import Storage
from idgate.storage.base import AuthCode, AuthRequest, LoginFailures, LoginSession


@dataclasses.dataclass
class Directory:
    """A slapd the test stops and brings back on the same port."""

    server: Slapd

    def stop(self) -> None:
        stop_slapd(self.server)

    def restart(self) -> None:
        self.server = restart_slapd(self.server)


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    try:
        found = Directory(start_slapd(tmp_path / "slapd"))
    except Exception as exc:
        pytest.fail(f"cannot start slapd: {exc}", pytrace=False)
    yield found
    stop_slapd(found.server)


async def with_ldap(make: Make, directory: Directory, **changes: str) -> Provider:
    connector = LDAPConnector(
        "ldap", "Corporate directory", LDAPConfig.model_validate(connector_config(directory.server))
    )
    return await make(settings(**changes), connectors={"ldap": connector})


async def ldap_form(provider: Provider) -> str:
    """``/auth/ldap`` followed to the password form: the pending login's id."""
    resp = await provider.client.get("/dex/auth/ldap", params=auth_params(), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    form = await provider.client.get(resp.headers["Location"])
    assert form.status == 200
    return hidden_req(await form.text())


async def submit(provider: Provider, req: str, password: str = "alice-pw") -> ClientResponse:
    return await provider.client.post(
        "/dex/auth/ldap/login",
        data={"req": req, "login": "alice", "password": password},
        allow_redirects=False,
        headers={"X-Forwarded-For": "203.0.113.7"},
    )


async def stored(storage: Storage) -> dict[str, list[object]]:
    """Everything a login attempt could have written."""
    kinds: list[type] = [AuthRequest, AuthCode, LoginSession, LoginFailures]
    return {kind.__name__: sorted(await storage.list(kind), key=repr) for kind in kinds}


async def test_directory_down_is_a_503_login_page_that_stores_nothing_and_the_next_login_works(
    make: Make, directory: Directory
) -> None:
    provider = await with_ldap(make, directory)
    req = await ldap_form(provider)
    before = await stored(provider.storage)
    directory.stop()
    for _ in range(7):  # more than the account's failure limit (5)
        resp = await submit(provider, req)
        page = await resp.text()
        assert resp.status == 503, page[:800]
        assert "The directory (Corporate directory) could not be reached" in page
        assert 'id="login-error"' in page and f'name="req" value="{req}"' in page  # the same form again
        assert "idgate_session" not in resp.cookies
    assert await stored(provider.storage) == before  # no session, no counter, the pending login as it was
    directory.restart()
    resp = await submit(provider, req)
    assert resp.status == 303, await resp.text()
    assert "code" in query_of(resp.headers["Location"]) and "idgate_session" in resp.cookies


async def test_a_wrong_password_is_still_counted_when_the_directory_answers(
    make: Make, directory: Directory
) -> None:
    provider = await with_ldap(make, directory)
    resp = await submit(provider, await ldap_form(provider), password="wrong")
    assert resp.status == 200 and "Invalid email or password." in await resp.text()
    assert len((await stored(provider.storage))["LoginFailures"]) == 2  # the account and the address


async def test_the_password_grant_with_the_directory_down_is_temporarily_unavailable(
    make: Make, directory: Directory
) -> None:
    provider = await with_ldap(make, directory, password_connector="ldap")
    form = {"grant_type": "password", "username": "alice", "password": "alice-pw", "scope": "openid email"}
    directory.stop()
    resp = await provider.client.post("/dex/token", data=form, headers=BASIC)
    assert resp.status == 503 and (await resp.json())["error"] == "temporarily_unavailable"
    assert (await stored(provider.storage))["LoginFailures"] == []
    directory.restart()
    resp = await provider.client.post("/dex/token", data=form, headers=BASIC)
    assert resp.status == 200, await resp.text()

"""The ldap connector against a real slapd (``slapd.py``): plain, LDAPS, StartTLS; escaping; failures."""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import ldap3
import pytest
from tests.conformance.password_connectors import HasGroups, Person
from tests.fakes.tls import make_ca
from tests.integration.connectors.slapd import (
    ADMIN_DN,
    ADMIN_PW,
    SUFFIX,
    Slapd,
    free_port,
    restart_slapd,
    start_slapd,
    stop_slapd,
)
from tests.integration.connectors.slapd import connector_config as config

from idgate.connectors.base import AccountConnector, PasswordConnector, RefreshConnector
from idgate.connectors.errors import LoginRefused, UpstreamFailed, UpstreamUnavailable
from idgate.connectors.ldap import LDAPConfig, LDAPConnector

GROUPS = ("groups", "openid")


@pytest.fixture
async def make(slapd: Slapd) -> AsyncIterator[Any]:
    made: list[LDAPConnector] = []

    def factory(mode: str = "plain", **extra: Any) -> LDAPConnector:
        conn = LDAPConnector("ldap", "LDAP", LDAPConfig.model_validate(config(slapd, mode, **extra)))
        made.append(conn)
        return conn

    yield factory
    for conn in made:
        await conn.close()


@pytest.mark.parametrize("mode", ["plain", "ldaps", "starttls"])
async def test_login_over_each_transport(make: Any, mode: str) -> None:
    conn = make(mode)
    identity = await conn.login(GROUPS, "alice", "alice-pw")
    assert identity is not None
    assert (identity.user_id, identity.username, identity.email) == (
        "1001",
        "Alice Liddell",
        "alice@example.org",
    )
    assert identity.preferred_username == "alice" and identity.email_verified
    assert set(identity.groups) == {"admins", "devs", "ops"}


async def test_protocols(make: Any) -> None:
    conn = make()
    assert isinstance(conn, PasswordConnector) and isinstance(conn, RefreshConnector)
    assert conn.prompt == "Directory user"


async def test_empty_password_is_refused_before_any_bind(slapd: Slapd) -> None:
    # Pointing at a closed port proves no connection is even attempted.
    conn = LDAPConnector(
        "ldap", "LDAP", LDAPConfig.model_validate(config(slapd, host=f"127.0.0.1:{free_port()}"))
    )
    assert await conn.login(GROUPS, "alice", "") is None


@pytest.mark.parametrize("name", ["*)(uid=*", "*", "alice)(|(uid=*", "al*", "\\2a", "alice\x00"])
async def test_injection_in_the_username_finds_nobody(make: Any, name: str) -> None:
    assert await make().login(GROUPS, name, "alice-pw") is None


async def test_special_characters_are_matched_literally(make: Any) -> None:
    identity = await make().login(GROUPS, "paren(s)", "parens-pw")
    assert identity is not None and identity.groups == ("ops",)


async def test_ambiguous_search_fails(make: Any) -> None:
    with pytest.raises(UpstreamFailed, match="several entries"):
        await make().login(GROUPS, "twin", "twin-pw")


async def test_anonymous_search_and_several_username_attributes(make: Any) -> None:
    conn = make(bindDN="", bindPW="", userSearch={**config_user(), "username": "uid,mail"})
    identity = await conn.login(GROUPS, "bob@example.org", "bob-pw")
    assert identity is not None and identity.username == "bob@example.org"


def config_user() -> dict[str, Any]:
    return {"baseDN": f"ou=People,{SUFFIX}", "scope": "one", "idAttr": "uid", "emailAttr": "mail"}


async def test_email_suffix(make: Any) -> None:
    conn = make(userSearch={**config_user(), "emailAttr": "nonexistent", "emailSuffix": "corp.example"})
    identity = await conn.login(GROUPS, "bob", "bob-pw")
    assert identity is not None and identity.email == "bob@corp.example"


async def test_refresh_rereads_the_user(make: Any) -> None:
    conn = make()
    identity = await conn.login(GROUPS, "alice", "alice-pw")
    again = await conn.refresh(GROUPS, identity)
    assert again == identity
    forged = replace(
        identity, connector_data='{"dn": "uid=ghost,ou=People,dc=example,dc=org", "username": "ghost"}'
    )
    with pytest.raises(LoginRefused, match="no longer exists"):
        await conn.refresh(GROUPS, forged)


async def test_pooled_connections_are_reused(make: Any) -> None:
    conn = make()
    for _ in range(5):
        assert await conn.login(GROUPS, "bob", "bob-pw") is not None
    assert len(conn._idle) == 1


async def test_wrong_ca_fails_closed(make: Any, tmp_path: Path) -> None:
    other = make_ca(tmp_path / "other")
    for mode in ("ldaps", "starttls"):
        with pytest.raises(UpstreamFailed, match=r"LDAP server 127\.0\.0\.1"):
            await make(mode, rootCA=str(other.ca_file)).login(GROUPS, "alice", "alice-pw")


async def test_root_ca_data_and_skip_verify(make: Any, slapd: Slapd, tmp_path: Path) -> None:
    data = base64.b64encode(slapd.ca.ca_file.read_bytes()).decode()
    assert await make("ldaps", rootCA="", rootCAData=data).login(GROUPS, "alice", "alice-pw") is not None
    other = make_ca(tmp_path / "o")
    conn = make("ldaps", rootCA=str(other.ca_file), insecureSkipVerify=True)
    assert await conn.login(GROUPS, "alice", "alice-pw") is not None


async def test_ldaps_against_the_plain_port_fails_closed(make: Any, slapd: Slapd) -> None:
    conn = make("ldaps", host=f"127.0.0.1:{slapd.port}")
    with pytest.raises(UpstreamFailed):
        await conn.login(GROUPS, "alice", "alice-pw")


async def test_unreachable_fails_closed(make: Any) -> None:
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        await make(host=f"127.0.0.1:{free_port()}").login(GROUPS, "alice", "alice-pw")


async def test_wrong_service_password_fails_closed(make: Any) -> None:
    with pytest.raises(UpstreamFailed, match="refused the bindDN bind") as raised:
        await make(bindPW="wrong").login(GROUPS, "alice", "alice-pw")
    assert not isinstance(raised.value, UpstreamUnavailable)  # reached, and it said no: a 502


@pytest.mark.parametrize("mode", ["plain", "ldaps"])
async def test_a_directory_that_went_away_is_unavailable_and_the_first_login_after_it_is_back_works(
    tmp_path: Path, mode: str
) -> None:
    server = start_slapd(tmp_path)
    conn = LDAPConnector("ldap", "LDAP", LDAPConfig.model_validate(config(server, mode)))
    try:
        assert await conn.login(GROUPS, "alice", "alice-pw") is not None  # one pooled connection now
        stop_slapd(server)
        for _ in range(2):  # the pooled connection is dead, then no new one opens
            with pytest.raises(UpstreamUnavailable, match="unreachable"):
                await conn.login(GROUPS, "alice", "alice-pw")
        server = restart_slapd(server)  # back on the same port, at once
        started = time.monotonic()
        assert await conn.login(GROUPS, "alice", "alice-pw") is not None
        assert time.monotonic() - started < 2  # not after ldap3's ~6 s "address unavailable" memory
    finally:
        await conn.close()
        stop_slapd(server)


# --- clientCert / clientKey: mutual TLS against a slapd with ``TLSVerifyClient demand`` -----------------


@pytest.fixture
async def make_mtls(slapd_mtls: Slapd) -> AsyncIterator[Any]:
    made: list[LDAPConnector] = []

    def factory(mode: str, **extra: Any) -> LDAPConnector:
        conn = LDAPConnector("ldap", "LDAP", LDAPConfig.model_validate(config(slapd_mtls, mode, **extra)))
        made.append(conn)
        return conn

    yield factory
    for conn in made:
        await conn.close()


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
async def test_client_certificate_is_presented(
    make_mtls: Any, slapd_mtls: Slapd, tmp_path: Path, mode: str
) -> None:
    cert, key = slapd_mtls.ca.client_cert(tmp_path)
    conn = make_mtls(mode, clientCert=str(cert), clientKey=str(key))
    identity = await conn.login(GROUPS, "alice", "alice-pw")
    assert identity is not None and set(identity.groups) == {"admins", "devs", "ops"}
    assert await conn.login(GROUPS, "alice", "wrong") is None  # the user bind goes through mTLS too


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
async def test_without_client_certificate_the_demanding_server_refuses(make_mtls: Any, mode: str) -> None:
    with pytest.raises(UpstreamFailed, match=r"LDAP server 127\.0\.0\.1"):
        await make_mtls(mode).login(GROUPS, "alice", "alice-pw")


async def test_client_certificate_from_another_ca_is_refused(make_mtls: Any, tmp_path: Path) -> None:
    stranger = make_ca(tmp_path / "stranger")
    cert, key = stranger.client_cert(tmp_path / "client")
    with pytest.raises(UpstreamFailed, match=r"LDAP server 127\.0\.0\.1"):
        await make_mtls("ldaps", clientCert=str(cert), clientKey=str(key)).login(GROUPS, "alice", "alice-pw")


def test_client_certificate_config_rules(slapd: Slapd, tmp_path: Path) -> None:
    from idgate.connectors.registry import connector_problems

    at = ("dex", "connectors", 0, "config")
    half = config(slapd, "ldaps", clientCert="/c.pem")
    assert [str(p) for p in connector_problems("ldap", half, at)] == [
        "dex.connectors[0].config: clientCert and clientKey go together"
    ]
    plain = config(slapd, "plain", clientCert="/c.pem", clientKey="/c.key")
    assert [str(p) for p in connector_problems("ldap", plain, at)] == [
        "dex.connectors[0].config: clientCert needs TLS (LDAPS or startTLS), not insecureNoSSL"
    ]


def test_unusable_client_certificate_is_a_config_error(slapd: Slapd, tmp_path: Path) -> None:
    from idgate.connectors.registry import build_connectors
    from idgate.errors import ConfigError
    from idgate.settings import ConnectorSettings

    cert, _ = slapd.ca.client_cert(tmp_path / "a")
    _, other_key = slapd.ca.client_cert(tmp_path / "b")
    for cert_file, key_file, reason in (
        (tmp_path / "missing.pem", other_key, "No such file"),
        (cert, other_key, "not a matching PEM pair"),
    ):
        entry = ConnectorSettings(
            type="ldap",
            id="ldap",
            name="LDAP",
            config=config(slapd, "ldaps", clientCert=str(cert_file), clientKey=str(key_file)),
        )
        with pytest.raises(ConfigError) as info:
            build_connectors([entry], storage=None, clock=None, http=None)  # type: ignore[arg-type]
        [problem] = info.value.problems
        assert str(problem).startswith("dex.connectors[0].config.clientCert: cannot use ")
        assert reason in str(problem)


async def test_account_is_the_entry_whichever_of_its_names_is_typed(make: Any) -> None:
    conn = make(userSearch={**config_user(), "username": "uid,mail"})
    assert isinstance(conn, AccountConnector)
    dn = f"uid=bob,ou=People,{SUFFIX}"
    assert await conn.account("bob") == dn
    assert await conn.account("bob@example.org") == dn
    assert await conn.account("nobody") is None
    assert await conn.account("*") is None and await conn.account(" ") is None


async def test_an_unusable_mail_attribute_refuses_the_login(make: Any) -> None:
    with pytest.raises(LoginRefused, match=r"cannot use \(more than one @\)"):
        await make().login(GROUPS, "mallory", "mallory-pw")


async def test_email_suffix_after_a_typed_address_refuses_the_login(make: Any) -> None:
    search = {
        **config_user(),
        "username": "uid,mail",
        "emailAttr": "nonexistent",
        "emailSuffix": "corp.example",
    }
    conn = make(userSearch=search)
    with pytest.raises(LoginRefused, match="more than one @"):  # bob@example.org@corp.example
        await conn.login(GROUPS, "bob@example.org", "bob-pw")


# --- the password-connector conformance suite, against the same slapd -----------------------------------


class People:
    """The conformance suite's directory for LDAP: entries under ``ou=People`` and ``posixGroup`` groups
    under ``ou=Groups`` (``memberUid``), written as the directory's admin."""

    _numbers = itertools.count(7000)

    def __init__(self, admin: ldap3.Connection) -> None:
        self._admin = admin

    def _check(self, ok: bool) -> None:
        assert ok, self._admin.result

    async def add(self, groups: tuple[str, ...] = ()) -> Person:
        n = next(self._numbers)
        uid, password = f"conformance{n}", secrets.token_urlsafe(12)
        attributes = {
            "uid": uid,
            "cn": f"Person {n}",
            "sn": str(n),
            "mail": f"{uid}@example.org",
            "uidNumber": n,
            "gidNumber": n,
            "homeDirectory": f"/home/{uid}",
            "userPassword": password,
        }
        self._check(self._admin.add(self._dn(uid), ["inetOrgPerson", "posixAccount"], attributes))
        person = Person(uid, password, str(n), f"{uid}@example.org", f"Person {n}", groups)
        await self.set_groups(person, groups)
        return person

    @staticmethod
    def _dn(uid: str) -> str:
        return f"uid={uid},ou=People,{SUFFIX}"

    async def rename(self, person: Person, name: str) -> None:
        self._check(self._admin.modify(self._dn(person.login), {"cn": [(ldap3.MODIFY_REPLACE, [name])]}))

    async def set_groups(self, person: Person, groups: tuple[str, ...]) -> None:
        for group in ("conformance-readers", "conformance-writers", *groups):
            dn = f"cn={group},ou=Groups,{SUFFIX}"
            found = self._admin.search(dn, "(objectClass=posixGroup)", ldap3.BASE, attributes=["memberUid"])
            members = {str(m) for m in self._admin.entries[0].memberUid.values} if found else set()
            if not found:
                gid = next(self._numbers)
                self._check(self._admin.add(dn, ["posixGroup"], {"cn": group, "gidNumber": gid}))
            if (group in groups) != (person.login in members):
                change = ldap3.MODIFY_ADD if group in groups else ldap3.MODIFY_DELETE
                self._check(self._admin.modify(dn, {"memberUid": [(change, [person.login])]}))

    async def remove(self, person: Person) -> None:
        self._check(self._admin.delete(self._dn(person.login)))


class TestLDAPConformance(HasGroups):
    @pytest.fixture
    def admin(self, slapd: Slapd) -> Iterator[ldap3.Connection]:
        conn = ldap3.Connection(
            ldap3.Server("127.0.0.1", port=slapd.port), ADMIN_DN, ADMIN_PW, auto_bind=True
        )
        yield conn
        conn.unbind()

    @pytest.fixture
    async def connector(self, slapd: Slapd) -> AsyncIterator[LDAPConnector]:
        conn = LDAPConnector("ldap", "LDAP", LDAPConfig.model_validate(config(slapd)))
        yield conn
        await conn.close()

    @pytest.fixture
    async def directory(self, admin: ldap3.Connection) -> AsyncIterator[People]:
        yield People(admin)

"""The connector registry: config validation at load time (paths, "did you mean", Dex's case folding),
and building connectors from settings."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from idgate.clock import FrozenClock
from idgate.config import check, load_config_text
from idgate.config.dex import CONNECTOR_TYPES
from idgate.connectors.base import CallbackConnector, PasswordConnector, RefreshConnector
from idgate.connectors.http import next_link
from idgate.connectors.registry import TYPES, build_connectors, connector_problems, connector_type
from idgate.errors import ConfigError
from idgate.settings import ConnectorSettings

AT = ("dex", "connectors", 0, "config")


def messages(type: str, config: object) -> list[str]:
    return [str(p) for p in connector_problems(type, config, AT)]


def test_each_module_declares_the_type_it_is_listed_under() -> None:
    assert set(TYPES) == {"local", "ldap", "github", "gitlab", "google", "oidc"}
    for name in TYPES:
        kind = connector_type(name)
        assert kind is not None and kind.name == name
        assert (kind.config is None) == (name == "local")  # local alone takes no config keys
    assert connector_type("saml") is None


def test_the_config_model_knows_the_registered_types() -> None:
    """``dex.connectors[].type`` is checked by the config model, which may not import the connectors
    (they import config): its list is the registry's, in the same order (the order messages list them)."""
    assert CONNECTOR_TYPES == TYPES


def test_local_refuses_config_keys_like_the_load_time_check() -> None:
    entry = ConnectorSettings("local", "local", "Email", {"users": []})
    with pytest.raises(ConfigError) as err:
        build_connectors([entry], storage=None, clock=FrozenClock(), http=None)  # type: ignore[arg-type]
    assert [str(p) for p in err.value.problems] == [str(p) for p in messages_at("local", {"users": []})]


def messages_at(type: str, config: object) -> list[object]:
    return list(connector_problems(type, config, AT))


def test_unknown_key_did_you_mean() -> None:
    got = messages("github", {"clientID": "a", "clientSecret": "b", "orgz": []})
    assert got == ["dex.connectors[0].config.orgz: unknown key 'orgz'; did you mean 'orgs'?"]


def test_keys_match_ignoring_case_as_dex_does() -> None:
    assert (
        messages("github", {"clientid": "a", "ClientSecret": "b", "Orgs": [{"NAME": "x", "teams": []}]}) == []
    )
    ldap = {"host": "h", "userSearch": {"basedn": "dc=x", "IDATTR": "uid"}}
    assert messages("ldap", ldap) == []


def test_nested_problems_have_paths() -> None:
    got = messages("ldap", {"host": "h", "userSearch": {"baseDN": "x", "scope": "subtree"}, "bindPW": 3})
    assert "dex.connectors[0].config.userSearch.scope: expected 'sub' or 'one', got 'subtree'" in got
    assert "dex.connectors[0].config.bindPW: expected a string, got an integer" in got


def test_cross_key_rules() -> None:
    got = messages("github", {"clientID": "a", "clientSecret": "b", "org": "x", "orgs": [{"name": "y"}]})
    assert got == ["dex.connectors[0].config: give orgs or the legacy org, not both"]
    assert messages(
        "ldap", {"host": "h", "insecureNoSSL": True, "startTLS": True, "userSearch": {"baseDN": "x"}}
    )


def test_missing_keys() -> None:
    assert messages("oidc", {}) == [
        "dex.connectors[0].config.issuer: required key is missing",
        "dex.connectors[0].config.clientID: required key is missing",
    ]


VALUES = """
dex:
  ingress: {host: kkp.example.com}
  connectors:
  - type: github
    id: github
    name: GitHub
    config: {clientID: a, clientSecret: b, orgs: [{name: x, teamz: [t]}]}
"""


def test_idgate_check_reports_connector_config() -> None:
    problems = check(load_config_text(VALUES))
    assert [str(p) for p in problems if p.severity == "error"] == [
        "dex.connectors[0].config.orgs[0].teamz: unknown key 'teamz'; did you mean 'teams'?"
    ]


async def test_build_connectors(tmp_path: Path) -> None:
    entries = [
        ConnectorSettings("local", "local", "Email"),
        ConnectorSettings(
            "ldap", "ldap", "LDAP", {"host": "ldap.example:636", "userSearch": {"baseDN": "dc=x"}}
        ),
        ConnectorSettings("github", "gh", "GitHub", {"clientID": "a", "clientSecret": "b"}),
        ConnectorSettings("gitlab", "gl", "GitLab", {"clientID": "a", "clientSecret": "b"}),
        ConnectorSettings("google", "go", "Google", {"clientID": "a", "clientSecret": "b"}),
        ConnectorSettings("oidc", "o", "OIDC", {"issuer": "https://idp.example", "clientID": "a"}),
    ]
    async with aiohttp.ClientSession() as http:
        built = build_connectors(entries, storage=None, clock=FrozenClock(), http=http)  # type: ignore[arg-type]
    assert list(built) == ["local", "ldap", "gh", "gl", "go", "o"]
    assert isinstance(built["ldap"], PasswordConnector) and isinstance(built["ldap"], RefreshConnector)
    for key in ("gh", "gl", "go", "o"):
        assert isinstance(built[key], CallbackConnector) and isinstance(built[key], RefreshConnector)


async def test_build_reports_every_problem() -> None:
    entries = [
        ConnectorSettings("github", "gh", "GitHub", {"clientID": "a"}),
        ConnectorSettings("github", "gh", "GitHub", {"clientID": "a", "clientSecret": "b"}),
        ConnectorSettings(
            "google", "go", "G", {"clientID": "a", "clientSecret": "b", "serviceAccountFilePath": "/no"}
        ),
    ]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(ConfigError) as err:
            build_connectors(entries, storage=None, clock=FrozenClock(), http=http)  # type: ignore[arg-type]
    assert [p.path for p in err.value.problems] == [
        "dex.connectors[0].config.clientSecret",
        "dex.connectors[1].id",
        "dex.connectors[2].config.serviceAccountFilePath",
    ]


def test_next_link() -> None:
    header = (
        '<https://api.github.com/user/teams?page=2>; rel="next", '
        '<https://api.github.com/user/teams?page=5>; rel="last"'
    )
    assert next_link(header) == "https://api.github.com/user/teams?page=2"
    assert next_link('<https://x/?page=1>; rel="prev"') is None
    assert next_link("") is None


# Every key Dex documents for each connector, with a plausible value: none may be refused as unknown.
DEX_CONFIGS: dict[str, dict[str, object]] = {
    "oidc": {
        "issuer": "https://accounts.example.com",
        "clientID": "c",
        "clientSecret": "s",
        "redirectURI": "https://dex.example.com/callback",
        "basicAuthUnsupported": True,
        "scopes": ["profile", "email", "groups"],
        "hostedDomains": ["example.com"],
        "rootCAs": ["/etc/ssl/upstream-ca.pem"],
        "insecureSkipVerify": False,
        "insecureSkipEmailVerified": False,
        "insecureEnableGroups": True,
        "allowedGroups": ["admins"],
        "acrValues": ["phr"],
        "getUserInfo": True,
        "userIDKey": "sub",
        "userNameKey": "preferred_username",
        "promptType": "login",
        "pkceChallenge": "S256",
        "overrideClaimMapping": True,
        "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"},
        "claimModifications": {
            "newGroupFromClaims": [
                {"claims": ["org", "team"], "delimiter": ":", "clearDelimiter": True, "prefix": "gh"}
            ],
            "filterGroupClaims": {"groupsFilter": "^team-"},
            "modifyGroupNames": {"prefix": "oidc:", "suffix": ""},
        },
        "providerDiscoveryOverrides": {"tokenURL": "", "authURL": "", "jwksURL": ""},
    },
    "ldap": {
        "host": "ldap.example.com:636",
        "insecureNoSSL": False,
        "insecureSkipVerify": False,
        "startTLS": False,
        "rootCA": "/etc/dex/ldap.ca",
        "rootCAData": "",
        "clientCert": "/etc/dex/ldap.crt",
        "clientKey": "/etc/dex/ldap.key",
        "bindDN": "uid=service,dc=example,dc=com",
        "bindPW": "pw",
        "usernamePrompt": "SSO Username",
        "userSearch": {
            "baseDN": "cn=users,dc=example,dc=com",
            "filter": "(objectClass=person)",
            "username": "uid",
            "scope": "sub",
            "idAttr": "uid",
            "emailAttr": "mail",
            "nameAttr": "name",
            "preferredUsernameAttr": "uid",
            "emailSuffix": "",
        },
        "groupSearch": {
            "baseDN": "cn=groups,dc=example,dc=com",
            "filter": "(objectClass=group)",
            "scope": "sub",
            "userMatchers": [{"userAttr": "uid", "groupAttr": "member"}],
            "nameAttr": "name",
        },
    },
    "github": {
        "clientID": "c",
        "clientSecret": "s",
        "redirectURI": "https://dex.example.com/callback",
        "orgs": [{"name": "my-org", "teams": ["red-team"]}],
        "loadAllGroups": False,
        "teamNameField": "slug",
        "useLoginAsID": False,
        "preferredEmailDomain": "example.com",
        "hostName": "git.example.com",
        "rootCA": "/etc/dex/ghe.pem",
    },
    "gitlab": {
        "baseURL": "https://gitlab.com",
        "clientID": "c",
        "clientSecret": "s",
        "redirectURI": "https://dex.example.com/callback",
        "groups": ["my-group"],
        "useLoginAsID": False,
        "getGroupsPermission": False,
    },
    "google": {
        "clientID": "c",
        "clientSecret": "s",
        "redirectURI": "https://dex.example.com/callback",
        "scopes": ["openid", "profile", "email"],
        "hostedDomains": ["example.com"],
        "groups": ["admins@example.com"],
        "serviceAccountFilePath": "/etc/dex/sa.json",
        "domainToAdminEmail": {"*": "admin@example.com"},
        "fetchTransitiveGroupMembership": True,
        "promptType": "consent",
    },
}


@pytest.mark.parametrize("type", sorted(DEX_CONFIGS))
def test_every_documented_dex_key_is_accepted(type: str) -> None:
    assert messages(type, DEX_CONFIGS[type]) == []


def test_dex_legacy_keys_are_accepted() -> None:
    ldap = {**DEX_CONFIGS["ldap"], "groupSearch": {"baseDN": "x", "userAttr": "DN", "groupAttr": "member"}}
    assert messages("ldap", ldap) == []
    github = {k: v for k, v in DEX_CONFIGS["github"].items() if k != "orgs"}
    assert messages("github", {**github, "org": "my-org"}) == []
    assert messages("google", {**DEX_CONFIGS["google"], "adminEmail": "admin@example.com"}) == []


def test_new_oidc_key_values_are_checked() -> None:
    bad = {
        "issuer": "i",
        "clientID": "c",
        "pkceChallenge": "S512",
        "claimModifications": {"filterGroupClaims": {"groupsFilter": "(unclosed"}},
    }
    got = messages("oidc", bad)
    assert "dex.connectors[0].config.pkceChallenge: expected '', 'S256' or 'plain', got 'S512'" in got
    assert any(
        m.startswith(
            "dex.connectors[0].config.claimModifications.filterGroupClaims.groupsFilter: "
            "not a regular expression"
        )
        for m in got
    ), got

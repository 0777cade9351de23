"""The connector registry: config validation at load time (paths, "did you mean", Dex's case folding),
and building connectors from settings."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from idgate.clock import FrozenClock
from idgate.config import check, load_config_text
from idgate.connectors.base import CallbackConnector, PasswordConnector, RefreshConnector
from idgate.connectors.http import next_link
from idgate.connectors.registry import CONFIG_MODELS, CONNECTOR_TYPES, build_connectors, connector_problems
from idgate.errors import ConfigError
from idgate.settings import ConnectorSettings

AT = ("dex", "connectors", 0, "config")


def messages(type: str, config: object) -> list[str]:
    return [str(p) for p in connector_problems(type, config, AT)]


def test_registry_is_explicit_and_complete() -> None:
    assert (
        set(CONNECTOR_TYPES) == set(CONFIG_MODELS) == {"local", "ldap", "github", "gitlab", "google", "oidc"}
    )


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

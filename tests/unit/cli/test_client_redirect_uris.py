"""``idgate client add`` refuses redirect URIs that must not be registered, names the option and the reason,
stores nothing; plain http to a host that is not loopback needs ``--allow-insecure-redirect``; ``idgate
check`` reports the same rules for ``dex.clients``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from idgate.cli import main

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


def add(tmp_path: Path, *args: str) -> Result:
    storage = f"sqlite:///{tmp_path}/idgate.db"
    return CliRunner().invoke(main, ["client", "add", "--storage", storage, "--id", "app", *args])


def listed(tmp_path: Path) -> str:
    return CliRunner().invoke(main, ["client", "list", "--storage", f"sqlite:///{tmp_path}/idgate.db"]).output


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("javascript:alert(1)", "uses the javascript: scheme"),
        ("data:text/html,<script>alert(1)</script>", "uses the data: scheme"),
        ("https://app.example.com/cb#token", "has a fragment"),
        ("/oauth/callback", "is not an absolute URI"),
        ("https://app.example.com@evil.example/cb", "has userinfo"),
    ],
)
def test_dangerous_redirect_uris_are_refused_and_nothing_is_stored(
    tmp_path: Path, uri: str, words: str
) -> None:
    result = add(tmp_path, "--redirect-uri", "https://app.example.com/cb", "--redirect-uri", uri)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--redirect-uri': {uri!r} {words}" in result.output
    assert "app" not in listed(tmp_path)


def test_a_dangerous_post_logout_uri_is_refused_too(tmp_path: Path) -> None:
    result = add(
        tmp_path, "--redirect-uri", "https://a.example/cb", "--post-logout-redirect-uri", "javascript:x"
    )
    assert result.exit_code == 2
    assert "Invalid value for '--post-logout-redirect-uri': 'javascript:x' uses the javascript: scheme" in (
        result.output
    )


def test_plain_http_elsewhere_needs_the_flag_and_is_then_a_warning(tmp_path: Path) -> None:
    refused = add(tmp_path, "--redirect-uri", "http://app.example.com/cb")
    assert refused.exit_code == 2
    assert "is plain http to a host that is not loopback" in refused.output
    assert "--allow-insecure-redirect registers it anyway" in refused.output
    added = add(tmp_path, "--redirect-uri", "http://app.example.com/cb", "--allow-insecure-redirect")
    assert added.exit_code == 0, added.output
    assert "warning: --redirect-uri 'http://app.example.com/cb' is plain http" in added.output
    assert "app\t" in listed(tmp_path)


def test_the_flag_does_not_let_an_error_through(tmp_path: Path) -> None:
    result = add(tmp_path, "--redirect-uri", "javascript:alert(1)", "--allow-insecure-redirect")
    assert result.exit_code == 2


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/oauth/callback",
        "http://127.0.0.1:8000/callback",
        "http://[::1]/callback",
        "http://localhost:8000",
        "http://grafana.localhost:4180/oauth/callback",
        "com.example.app:/oauth2redirect",
    ],
)
def test_https_loopback_and_private_use_schemes_are_added(tmp_path: Path, uri: str) -> None:
    result = add(tmp_path, "--public", "--redirect-uri", uri)
    assert result.exit_code == 0 and result.output.endswith("added client app\n"), result.output
    assert "warning" not in result.output


def test_check_reports_a_dangerous_redirect_uri_with_its_path(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["dex"]["clients"][1]["RedirectURIs"].append("javascript:alert(1)")
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(
        "error: dex.clients[1].RedirectURIs[1]: 'javascript:alert(1)' uses the javascript: scheme"
    )


def test_the_kkp_fixtures_redirect_uris_are_clean(tmp_path: Path) -> None:
    # The fixture's findings are its two provider replicas on SQLite (render kubernetes warnings) and its
    # static password, bcrypt("password").
    result = CliRunner().invoke(main, ["check", str(EXAMPLE)])
    problems = [line for line in result.output.splitlines() if line.startswith(("error:", "warning:"))]
    assert result.exit_code == 1, result.output
    assert all("render kubernetes" in line or "commonest passwords" in line for line in problems), (
        result.output
    )


def test_user_add_refuses_an_email_idgate_could_not_assert(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path}/idgate.db"
    args = [
        "user",
        "add",
        "--storage",
        storage,
        "--email",
        "jane@evil.com@example.com",
        "--password",
        "x" * 12,
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "'jane@evil.com@example.com' is not one usable email address: more than one @" in result.output


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("not-a-url", "is not an absolute URI"),
        ("grafana.localhost:24180/cb", "has no scheme: write https://grafana.localhost:24180/cb"),
    ],
)
def test_client_add_refuses_what_is_not_a_url(tmp_path: Path, uri: str, words: str) -> None:
    """Issue #20: ``client add --redirect-uri not-a-url`` must not pass."""
    result = add(tmp_path, "--redirect-uri", uri)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--redirect-uri': {uri!r} {words}" in result.output
    assert "app" not in listed(tmp_path)


def test_check_refuses_a_registered_uri_without_a_scheme(tmp_path: Path) -> None:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["dex"]["clients"][4]["RedirectURIs"].append("grafana.localhost:24180/cb")
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert (
        "error: dex.clients[4].RedirectURIs[1]: 'grafana.localhost:24180/cb' has no scheme: write "
        "https://grafana.localhost:24180/cb (or http:// for a loopback host)"
    ) in result.output.splitlines()

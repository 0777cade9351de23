"""One validation for every command: each refusal of ``render`` and ``serve`` is one ``idgate check`` reports
first, at the same YAML path with the same message.

The table lists the refusals these commands can make beyond loading the file (which all of them share,
:func:`idgate.config.load_config`): the render's own rules (``idgate.deploy.rules``: each error rule once),
and the cross-section checks that ``serve`` and both renders now apply (a mismatched client secret, an
``authenticated_emails_file`` that ``serve`` cannot read). ``check`` reports a render-only refusal as a
warning (``render kubernetes would refuse: <message>``): the file still runs with ``idgate serve``.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from click.testing import CliRunner

from idgate.cli import main

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"
POSTGRES = "postgresql://idgate@postgres.idgate.svc.cluster.local:5432/idgate"
SERVE_TIMEOUT = 60  # a serve that does not refuse runs until killed: the case fails then


def example(tmp: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


#: The hash of a password no list holds (the example's is bcrypt("password"), which idgate check warns about).
STRONG_HASH = bcrypt.hashpw(b"an installation's own admin password", bcrypt.gensalt(4)).decode()


def on_postgres(tmp: Path) -> dict[str, Any]:
    """The example as an installation with replicas must write it: clean for every command."""
    data = {**example(tmp), "idgate": {"storage": POSTGRES}}
    data["dex"]["staticPasswords"][0]["hash"] = STRONG_HASH
    return data


def network_policy_without_selectors(tmp: Path) -> dict[str, Any]:
    return {**example(tmp), "idgate": {"storage": POSTGRES, "kubernetes": {"networkPolicy": True}}}


def network_policy_without_namespace(tmp: Path) -> dict[str, Any]:
    data = example(tmp)
    selectors = {d["name"]: {"app": d["name"]} for d in data["iap"]["deployments"].values()}
    data["idgate"] = {
        "storage": POSTGRES,
        "kubernetes": {"networkPolicy": True, "upstreamSelectors": selectors},
    }
    data["iap"]["deployments"]["grafana"]["upstream_service"] = "grafana"
    return data


def nothing_to_render(tmp: Path) -> dict[str, Any]:
    return {"iap": {"oidc_issuer_url": "https://kkp.example.com/dex"}}


def wrong_client_secret(tmp: Path) -> dict[str, Any]:
    data = on_postgres(tmp)
    data["iap"]["deployments"]["grafana"]["client_secret"] = "another-secret-entirely"
    return data


def unreadable_emails_file(tmp: Path) -> dict[str, Any]:
    data = on_postgres(tmp)
    data["iap"]["deployments"]["grafana"]["config"]["authenticated_emails_file"] = str(tmp / "no-such.txt")
    return data


@dataclass(frozen=True)
class Case:
    command: str  # "render kubernetes", "render nginx" or "serve"
    values: Callable[[Path], dict[str, Any]]
    path: str  # where the refusal is reported

    def __str__(self) -> str:
        return f"{self.command}: {self.values.__name__}"


CASES = [
    Case("render kubernetes", example, "idgate.storage"),
    Case("render kubernetes", network_policy_without_selectors, "idgate.kubernetes.upstreamSelectors"),
    Case("render kubernetes", network_policy_without_namespace, "iap.deployments.grafana.upstream_service"),
    Case("render kubernetes", nothing_to_render, "<root>"),
    Case("render kubernetes", wrong_client_secret, "iap.deployments.grafana.client_secret"),
    Case(
        "render kubernetes",
        unreadable_emails_file,
        "iap.deployments.grafana.config.authenticated_emails_file",
    ),
    Case("render nginx", wrong_client_secret, "iap.deployments.grafana.client_secret"),
    Case("serve", wrong_client_secret, "iap.deployments.grafana.client_secret"),
    Case("serve", unreadable_emails_file, "iap.deployments.grafana.config.authenticated_emails_file"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refusal(command: str, path: Path) -> tuple[int, list[str]]:
    """Exit status and ``error:`` lines of ``command`` on the file at ``path``."""
    if command == "serve":
        try:
            argv = [sys.executable, "-m", "idgate", "serve", "--config", str(path)]
            done = subprocess.run(
                [*argv, "--listen", f"127.0.0.1:{_free_port()}"],
                capture_output=True,
                text=True,
                timeout=SERVE_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve did not refuse {path.name}: it served for {SERVE_TIMEOUT} s")
        code, err = done.returncode, done.stderr
    else:
        result = CliRunner().invoke(main, [*command.split(), "--config", str(path)])
        code, err = result.exit_code, result.stderr
    return code, [line for line in err.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_check_reports_every_refusal_with_the_same_path_and_message(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(case.values(tmp_path), sort_keys=False))
    code, errors = refusal(case.command, path)
    assert code == 2, f"{case.command} did not refuse the file"
    assert any(line.startswith(f"error: {case.path}: ") for line in errors), errors
    checked = CliRunner().invoke(main, ["check", str(path)]).output.splitlines()
    for line in errors:
        where, _, message = line.removeprefix("error: ").partition(": ")
        assert line in checked or f"warning: {where}: render kubernetes would refuse: {message}" in checked, (
            f"idgate check does not report {line!r}; it says {checked}"
        )


def test_a_render_only_refusal_is_a_warning_for_check_and_serve_runs_the_file(tmp_path: Path) -> None:
    """Two provider replicas on SQLite: render kubernetes refuses, one ``idgate serve`` process is fine."""
    result = CliRunner().invoke(main, ["check", str(EXAMPLE)])
    assert result.exit_code == 1  # warnings only: 2 would say "cannot be served"
    from idgate.config import check, load_config

    assert check(load_config(EXAMPLE), "serve") == []


def test_a_file_clean_for_check_renders_and_serves(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(on_postgres(tmp_path), sort_keys=False))
    assert CliRunner().invoke(main, ["check", str(path)]).exit_code == 0
    assert CliRunner().invoke(main, ["render", "kubernetes", "--config", str(path)]).exit_code == 0
    assert CliRunner().invoke(main, ["render", "nginx", "--config", str(path)]).exit_code == 0

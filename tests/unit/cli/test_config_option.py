"""One ``--config FILE`` for every command that reads the values file, and ``IDGATE_CONFIG`` for all of them
(issue #20: ``check --config FILE`` was refused while every other command wanted ``--config``; ``user``,
``client`` and ``keys`` needed it each time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from click.testing import CliRunner, Result

from idgate.cli import main
from idgate.settings import Settings

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


def values(tmp_path: Path) -> str:
    """The KKP example on this machine: SQLite in ``tmp_path``, one replica each, a strong static password."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["dex"]["replicas"] = 1
    data["iap"]["replicas"] = 1
    data["dex"]["staticPasswords"][0]["hash"] = bcrypt.hashpw(b"not a listed one", bcrypt.gensalt(4)).decode()
    data["idgate"] = {"storage": f"sqlite:///{tmp_path}/idgate.db", "data_dir": str(tmp_path)}
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


class TestCheck:
    def test_the_file_as_an_argument(self, tmp_path: Path) -> None:
        result = invoke("check", values(tmp_path))
        assert (result.exit_code, result.output) == (0, "no problems found\n")

    def test_the_file_as_config_like_every_other_command(self, tmp_path: Path) -> None:
        result = invoke("check", "--config", values(tmp_path))
        assert (result.exit_code, result.output) == (0, "no problems found\n")

    def test_the_file_from_idgate_config(self, tmp_path: Path) -> None:
        result = invoke("check", env={"IDGATE_CONFIG": values(tmp_path)})
        assert (result.exit_code, result.output) == (0, "no problems found\n")

    def test_the_argument_wins_over_idgate_config(self, tmp_path: Path) -> None:
        result = invoke("check", values(tmp_path), env={"IDGATE_CONFIG": str(tmp_path / "other.yaml")})
        assert (result.exit_code, result.output) == (0, "no problems found\n")

    def test_two_different_files_are_refused(self, tmp_path: Path) -> None:
        result = invoke("check", values(tmp_path), "--config", str(tmp_path / "other.yaml"))
        assert result.exit_code == 2
        assert "two values files" in result.output and "give one" in result.output

    def test_no_file_says_the_three_ways(self) -> None:
        result = invoke("check", env={"IDGATE_CONFIG": ""})
        assert result.exit_code == 2
        assert "give the values file: idgate check FILE, --config FILE or IDGATE_CONFIG" in result.output

    def test_set_still_applies(self, tmp_path: Path) -> None:
        result = invoke(
            "check", "--config", values(tmp_path), "--set", "iap.deployments.grafana.upstream_port=0"
        )
        assert result.exit_code == 2
        assert "error: iap.deployments.grafana.upstream_port: must be >= 1" in result.output


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["user", "list"], "kubermatic@example.com"),
        (["client", "list"], "grafana"),
        (["keys", "list"], "next rotation:"),
    ],
)
def test_administration_commands_take_idgate_config(
    tmp_path: Path, command: list[str], expected: str
) -> None:
    result = invoke(*command, env={"IDGATE_CONFIG": values(tmp_path)})
    assert result.exit_code == 0, result.output
    assert expected in result.output
    assert (tmp_path / "idgate.db").exists()  # the file's storage, not a default


def test_without_either_the_administration_commands_name_idgate_config() -> None:
    result = invoke("user", "list", env={"IDGATE_CONFIG": ""})
    assert result.exit_code == 2
    assert "give --config FILE (the values file; or set IDGATE_CONFIG) or --storage URL" in result.output


def test_render_takes_idgate_config(tmp_path: Path) -> None:
    result = invoke("render", "nginx", "--resolver", "127.0.0.53", env={"IDGATE_CONFIG": values(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "server_name grafana.kkp.example.com" in result.output


def test_serve_takes_idgate_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    served: list[Settings] = []
    import idgate.runtime.processes

    monkeypatch.setattr(idgate.runtime.processes, "serve", lambda settings, **_: served.append(settings))
    result = invoke("serve", env={"IDGATE_CONFIG": values(tmp_path)})
    assert result.exit_code == 0, result.output
    assert [p.name for p in served[0].proxies] == ["alertmanager", "grafana", "prometheus"]


def test_help_names_the_variable() -> None:
    for command in (
        ["check"],
        ["serve"],
        ["render", "nginx"],
        ["user", "list"],
        ["client", "add"],
        ["keys", "list"],
    ):
        result = invoke(*command, "--help")
        assert "IDGATE_CONFIG" in result.output, command

"""The ``idgate`` command through click's CliRunner: output and exit status of every command."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from click.testing import CliRunner

import idgate
from idgate.cli import main
from idgate.errors import ConfigError
from idgate.settings import Settings

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


def write(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


#: The hash of a password no list holds (cost 4: idgate check tries 20 passwords against it).
STRONG_HASH = bcrypt.hashpw(b"correct horse battery staple 20", bcrypt.gensalt(4)).decode()


def example() -> dict[str, Any]:
    """The KKP example with its state in PostgreSQL, as its two provider replicas need, and a static
    password that is not bcrypt("password")."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["idgate"] = {"storage": "postgresql://idgate@postgres.idgate.svc.cluster.local/idgate"}
    data["dex"]["staticPasswords"][0]["hash"] = STRONG_HASH
    return data


class TestCheck:
    def test_clean_file_exits_0(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(main, ["check", write(tmp_path, example())])
        assert (result.exit_code, result.output) == (0, "no problems found\n")

    def test_what_render_kubernetes_would_refuse_is_a_warning(self) -> None:
        result = CliRunner().invoke(main, ["check", str(EXAMPLE)])  # two provider replicas on SQLite
        assert result.exit_code == 1
        assert result.output.startswith(
            "warning: idgate.storage: render kubernetes would refuse: SQLite cannot back dex.replicas: 2"
        )

    def test_proxy_replicas_without_a_shared_revocation_list_are_a_warning(self) -> None:
        """The example as written: two proxy replicas with cookie sessions, storage on SQLite."""
        result = CliRunner().invoke(main, ["check", str(EXAMPLE)])
        assert result.exit_code == 1
        lines = result.output.splitlines()
        assert lines[1].startswith(
            "warning: iap.replicas: render kubernetes: 2 replicas of 'alertmanager', 'grafana', 'prom"
        )
        assert "copy of it keeps working on the others" in lines[1]
        assert lines[-1] == "0 errors, 3 warnings"

    def test_the_examples_static_password_is_a_warning(self) -> None:
        """The KKP example's hash is bcrypt("password"): anyone could sign in as its admin."""
        result = CliRunner().invoke(main, ["check", str(EXAMPLE)])
        assert result.exit_code == 1
        assert (
            "warning: dex.staticPasswords[0].hash: is the hash of one of the 20 commonest passwords: anyone "
            "can sign in as kubermatic@example.com; put the hash of a strong password here (htpasswd -nbBC "
            "10 '' 'NEW PASSWORD' | cut -d: -f2)"
        ) in result.output.splitlines()
        assert "'password'" not in result.output

    def test_warnings_only_exit_1(self, tmp_path: Path) -> None:
        data = example()
        data["iap"]["deployments"]["grafana"]["config"] = {}
        result = CliRunner().invoke(main, ["check", write(tmp_path, data)])
        assert result.exit_code == 1
        lines = result.output.splitlines()
        assert lines[0].startswith(
            "warning: iap.deployments.grafana.config.email_domains: this deployment lets nobody in"
        )
        assert lines[-1] == "0 errors, 1 warning"

    def test_load_errors_exit_2_with_one_line_each(self, tmp_path: Path) -> None:
        data = example()
        data["iap"]["deployments"]["prometheus"]["encryption_key"] = "abcdefghijkl"
        data["dex"]["ingress"]["hots"] = "x"
        result = CliRunner().invoke(main, ["check", write(tmp_path, data)])
        assert result.exit_code == 2
        assert result.output.splitlines() == [
            "error: dex.ingress.hots: unknown key 'hots'; did you mean 'host'?",
            "error: iap.deployments.prometheus.encryption_key: must be 16, 24 or 32 characters, got 12 "
            "(`idgate secret` makes one of 32)",
            "2 errors, 0 warnings",
        ]

    def test_cross_check_errors_exit_2_errors_first(self, tmp_path: Path) -> None:
        data = example()
        data["iap"]["deployments"]["grafana"]["client_secret"] = "another-secret-entirely"
        data["iap"]["deployments"]["alertmanager"]["config"] = {}
        result = CliRunner().invoke(main, ["check", write(tmp_path, data)])
        assert result.exit_code == 2
        lines = result.output.splitlines()
        assert lines[0].startswith("error: iap.deployments.grafana.client_secret: does not match")
        assert lines[1].startswith("warning: iap.deployments.alertmanager.config.email_domains")
        assert lines[2] == "1 error, 1 warning"
        assert "another-secret" not in result.output

    def test_set_overrides_apply(self) -> None:
        result = CliRunner().invoke(
            main, ["check", str(EXAMPLE), "--set", "iap.deployments.grafana.upstream_port=0"]
        )
        assert result.exit_code == 2
        assert "error: iap.deployments.grafana.upstream_port: must be >= 1" in result.output

    def test_missing_file(self, tmp_path: Path) -> None:
        result = CliRunner().invoke(main, ["check", str(tmp_path / "nope.yaml")])
        assert result.exit_code == 2
        assert "No such file or directory" in result.output


class TestSecret:
    def test_prints_32_alphanumerics(self) -> None:
        result = CliRunner().invoke(main, ["secret"])
        assert result.exit_code == 0
        assert re.fullmatch(r"[A-Za-z0-9]{32}\n", result.output)

    def test_two_calls_differ(self) -> None:
        runner = CliRunner()
        assert runner.invoke(main, ["secret"]).output != runner.invoke(main, ["secret"]).output


def test_version() -> None:
    result = CliRunner().invoke(main, ["version"])
    assert (result.exit_code, result.output) == (0, f"{idgate.__version__}\n")


class TestServe:
    """``serve`` builds settings and hands them to ``idgate.runtime.processes.serve`` (replaced here by a
    recorder)."""

    @pytest.fixture
    def served(self, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, int]]:
        calls: list[tuple[Settings, int]] = []
        import idgate.runtime.processes

        monkeypatch.setattr(
            idgate.runtime.processes,
            "serve",
            lambda settings, *, workers=1, **_: calls.append((settings, workers)),
        )
        return calls

    def test_with_config(self, served: list[tuple[Settings, int]], tmp_path: Path) -> None:
        result = CliRunner().invoke(
            main,
            [
                "serve",
                "--config",
                str(EXAMPLE),
                "--workers",
                "3",
                "--data-dir",
                str(tmp_path),
                "--listen",
                "0.0.0.0:8080",
            ],
        )
        assert result.exit_code == 0, result.output
        [(settings, workers)] = served
        assert workers == 3
        assert settings.listen == "0.0.0.0:8080"
        assert settings.data_dir == str(tmp_path)
        assert settings.storage == f"sqlite:///{tmp_path}/idgate.db"
        assert len(settings.proxies) == 3

    def test_the_settings_read_in_a_child_are_those_read_in_process(self, tmp_path: Path) -> None:
        """``serve`` reads the file in a child process (so that it never loads pydantic); what comes back is
        what reading it here gives, overrides included, and a bad file gives the same problems."""
        from idgate.config.apart import read, read_apart

        sets = ["idgate.workers=2", f"idgate.data_dir={json.dumps(str(tmp_path))}"]
        assert read_apart(str(EXAMPLE), sets) == read(str(EXAMPLE), sets)
        bad = ['iap.deployments.prometheus.upstream_port="x"']
        with pytest.raises(ConfigError) as apart:
            read_apart(str(EXAMPLE), bad)
        with pytest.raises(ConfigError) as here:
            read(str(EXAMPLE), bad)
        assert apart.value.problems == here.value.problems
        assert [p.path for p in apart.value.problems] == ["iap.deployments.prometheus.upstream_port"]

    def test_workers_default_from_the_file(self, served: list[tuple[Settings, int]]) -> None:
        result = CliRunner().invoke(main, ["serve", "--config", str(EXAMPLE), "--set", "idgate.workers=2"])
        assert result.exit_code == 0, result.output
        assert served[0][1] == 2

    def test_bad_config_exits_2_and_serves_nothing(
        self, served: list[tuple[Settings, int]], tmp_path: Path
    ) -> None:
        data = example()
        data["iap"]["oidc_issuer_url"] = "https://kubermatic.tld/dex"
        result = CliRunner().invoke(main, ["serve", "--config", write(tmp_path, data)])
        assert result.exit_code == 2
        assert "error: iap.oidc_issuer_url: is the chart's placeholder" in result.output
        assert served == []

    def test_without_config_serves_the_demo(
        self, served: list[tuple[Settings, int]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        import idgate.cli.demo

        demo = Settings(listen="127.0.0.1:9999")
        asked: list[tuple[str, str]] = []

        def fake_demo(data_dir: str, listen: str = "127.0.0.1:4180") -> Settings:
            asked.append((data_dir, listen))
            return demo

        monkeypatch.setattr(idgate.cli.demo, "demo_settings", fake_demo)
        result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert asked == [(str(tmp_path), "127.0.0.1:4180")]
        # the demo serves metrics on the default address too (a taken port is only a warning)
        with_metrics = replace(demo, metrics_listen="127.0.0.1:9180", metrics_optional=True)
        assert served == [(with_metrics, 1)]


def test_a_child_that_cannot_read_the_file_is_a_config_problem(tmp_path: Path) -> None:
    """Whatever stops the child (here: a directory where the file should be) is reported as a problem of
    the file, never a traceback of the server."""
    from idgate.config.apart import read_apart

    with pytest.raises(ConfigError) as exc:
        read_apart(str(tmp_path), [])
    [problem] = exc.value.problems
    assert str(tmp_path) in problem.message

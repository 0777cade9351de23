"""Progress of long commands (idgate.progress): what a step does goes to stderr, stdout keeps the command's
output unchanged, ``--quiet`` silences it, and ``serve`` (and library use) logs it instead."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import yaml
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import create_engine
from tests.unit.deploy.support import KKP_EXAMPLE, KKP_STORAGE, documents

from idgate import progress
from idgate.cli import main
from idgate.cli.progress import to_stderr
from idgate.storage.sql.migrate import MIGRATIONS

DONE = r"done in \d+\.\d\d s"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ", ".join(sorted(ScriptDirectory.from_config(cfg).get_heads()))


# -- commands ----------------------------------------------------------------------------------------------
def test_render_kubernetes_reports_on_stderr_and_its_yaml_is_unchanged() -> None:
    loud = run("render", "kubernetes", "--config", str(KKP_EXAMPLE), "--set", KKP_STORAGE)
    quiet = run("--quiet", "render", "kubernetes", "--config", str(KKP_EXAMPLE), "--set", KKP_STORAGE)
    assert loud.exit_code == quiet.exit_code == 0
    what = "Rendering Kubernetes manifests for the provider and 3 deployments"
    assert re.fullmatch(rf"{what} \.\.\. 25 objects in \d+\.\d\d s\n", loud.stderr)
    assert quiet.stderr == ""
    assert loud.stdout == quiet.stdout  # progress never reaches stdout
    assert len(documents(loud.stdout)) == 25


def test_render_nginx_reports_on_stderr() -> None:
    # with --resolver: the example's Kubernetes Service names are no warning, the progress line is all
    result = run("render", "nginx", "--config", str(KKP_EXAMPLE), "--resolver", "10.96.0.10")
    assert result.exit_code == 0
    assert re.fullmatch(
        rf"Rendering the nginx configuration for the provider and 3 deployments \.\.\. {DONE}\n",
        result.stderr,
    )
    assert result.stdout.lstrip().startswith("#") and "Rendering" not in result.stdout


def test_init_reports_the_secret_generation_and_prints_only_yaml_on_stdout() -> None:
    result = run("init", "--domain", "example.com", "--service", "grafana=grafana.svc:3000")
    assert result.exit_code == 0
    assert re.match(rf"Generating fresh secrets for 1 service \.\.\. {DONE}\n", result.stderr)
    assert "grafana" in yaml.safe_load(result.stdout)["iap"]["deployments"]


def test_keys_rotate_reports_the_schema_and_the_rotation(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/idgate.db"
    rotated = run("keys", "rotate", "--storage", url)
    assert rotated.exit_code == 0, rotated.output
    assert re.fullmatch(
        rf"Creating the storage schema \({head()}\) \.\.\. {DONE}\nRotating the signing keys \.\.\. {DONE}\n",
        rotated.stderr,
    )
    assert re.fullmatch(
        r"rotated: \S+ signs now \(running providers pick it up within a minute\)\n", rotated.stdout
    )
    listed = run("keys", "list", "--storage", url)
    assert listed.stderr == ""  # an up-to-date schema says nothing
    assert listed.stdout.startswith("next rotation: ")


def test_a_database_behind_says_from_which_revision_it_migrates(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/old.db")
    with engine.begin() as connection:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0002")
    engine.dispose()
    result = run("user", "list", "--storage", f"sqlite:///{tmp_path}/old.db")
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"Migrating storage from 0002 to {head()} \.\.\. {DONE}\n", result.stderr)
    assert result.stdout == ""  # no users


def test_quiet_from_the_environment(tmp_path: Path) -> None:
    result = CliRunner(env={"IDGATE_QUIET": "1"}).invoke(
        main, ["keys", "rotate", "--storage", f"sqlite:///{tmp_path}/idgate.db"]
    )
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("rotated: ")


def test_after_a_command_steps_are_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    assert run("version").exit_code == 0
    with caplog.at_level(logging.INFO, logger="idgate.progress"), progress.step("Migrating storage"):
        pass
    assert caplog.records[0].getMessage() == "Migrating storage ..."
    assert re.fullmatch(r"Migrating storage: done in \d+\.\d\d s", caplog.records[1].getMessage())
    assert caplog.records[1].__dict__["step"] == "Migrating storage"


# -- the stderr lines ----------------------------------------------------------------------------------------
@pytest.fixture
def on_stderr() -> object:
    to_stderr()
    yield
    progress.to_log()


@pytest.mark.usefixtures("on_stderr")
def test_a_nested_step_ends_the_open_line_and_the_outer_step_names_itself_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with progress.step("Rotating the signing keys") as outer:
        with progress.step("Migrating storage") as inner:
            inner.note = "3 revisions"
        outer.note = "1 key"
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "Rotating the signing keys ... "
    assert re.fullmatch(r"Migrating storage \.\.\. 3 revisions in \d+\.\d\d s", lines[1])
    assert re.fullmatch(r"Rotating the signing keys \.\.\. 1 key in \d+\.\d\d s", lines[2])


@pytest.mark.usefixtures("on_stderr")
def test_a_failing_step_says_so_and_the_exception_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RuntimeError), progress.step("Rendering"):
        raise RuntimeError("boom")
    assert re.fullmatch(r"Rendering \.\.\. failed after \d+\.\d\d s\n", capsys.readouterr().err)


def test_serve_logs_its_steps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``idgate serve`` switches back to logging before it starts (its stderr carries log lines)."""
    seen: list[str] = []
    monkeypatch.setattr(
        "idgate.runtime.processes.serve", lambda *a, **k: seen.append(type(progress._sink).__name__)
    )
    assert run("serve", "--data-dir", str(tmp_path)).exit_code == 0
    assert seen == ["_Log"]

"""podman loads the archive (it reads `docker save`'s format) and runs it as its config says: idgate,
user 65532, on a read-only root file system."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.image import podman

from idgate import __version__
from idgate.deploy.common import DEFAULT_IMAGE


@pytest.fixture
def storage() -> Iterator[Path]:
    where = Path(
        tempfile.mkdtemp(prefix="podman-", dir="/tmp")
    )  # podman wants a run root under 50 characters
    yield where
    subprocess.run(podman.podman(where, "rmi", "--all", "--force"), capture_output=True, check=False)
    shutil.rmtree(where, ignore_errors=True)


def sh(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)


def test_podman_loads_inspects_and_runs_the_archive(archive: Path, storage: Path) -> None:
    loaded = sh(podman.podman(storage, "load", "-i", str(archive)))
    assert loaded.returncode == 0, loaded.stderr
    assert f"Loaded image: {DEFAULT_IMAGE}" in loaded.stdout
    seen = sh(podman.podman(storage, "image", "inspect", DEFAULT_IMAGE))
    (image,) = json.loads(seen.stdout)
    assert image["Config"]["User"] == "65532:65532"
    assert image["Config"]["Entrypoint"] == ["idgate"]
    assert image["Size"] < 150 * 1024 * 1024
    ran = sh(podman.run(storage, DEFAULT_IMAGE, ["--version"], flags=["--read-only", "--network=none"]))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == f"idgate, version {__version__}"
    probe = "import os; print(os.getuid(), os.getcwd())"
    flags = ["--read-only", "--network=none", "--entrypoint=python3"]
    ran = sh(podman.run(storage, DEFAULT_IMAGE, ["-c", probe], flags=flags))
    assert ran.stdout.split() == ["65532", "/var/lib/idgate"], ran.stderr

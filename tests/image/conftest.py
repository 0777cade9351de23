"""The archive ``make image`` wrote (``make test`` builds it first), and its file system unpacked once."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.image.rootfs import archive_path, config, manifest, unpack


@pytest.fixture(scope="session")
def archive() -> Path:
    path = archive_path()
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make image` (`make test` does it before pytest)")
    if os.geteuid() != 0:
        pytest.fail("tests/image run the image's programs in a chroot: they need root")
    return path


@pytest.fixture(scope="session")
def image_config(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        return config(tar)


@pytest.fixture(scope="session")
def image_manifest(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        return manifest(tar)


@pytest.fixture(scope="session")
def rootfs(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield unpack(archive, tmp_path_factory.mktemp("image") / "rootfs")

"""The archive `make image` writes: what loaders read from it, the config a runtime applies, and what its
layers hold (and do not)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from deploy.image import spec
from tests.image.rootfs import blob

from idgate import __version__
from idgate.config.iap import IapSection
from idgate.deploy.common import DEFAULT_IMAGE, HEALTH_PORT, RUN_AS
from idgate.deploy.provider import DEX_PORT

MAX_UNPACKED = 150 * 1024 * 1024


def skopeo(transport: str, archive: Path, *flags: str) -> dict[str, Any]:
    done = subprocess.run(
        ["skopeo", "inspect", *flags, f"{transport}:{archive}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_skopeo_reads_it_as_an_oci_archive_and_as_a_docker_archive(
    archive: Path, image_manifest: dict[str, Any], image_config: dict[str, Any]
) -> None:
    oci = skopeo("oci-archive", archive)  # index.json -> manifest -> compressed layers
    docker = skopeo("docker-archive", archive)  # manifest.json -> config -> the layers' tar digests
    assert oci["Layers"] == [layer["digest"] for layer in image_manifest["layers"]]
    assert docker["Layers"] == image_config["rootfs"]["diff_ids"]
    assert len(docker["Layers"]) == 2  # the cached Debian base, then /opt/idgate
    assert oci["Labels"] == docker["Labels"]
    assert oci["Labels"]["org.opencontainers.image.version"] == __version__
    assert oci["Architecture"] == docker["Architecture"] == "amd64"
    raw = skopeo("oci-archive", archive, "--raw")
    assert {layer["mediaType"] for layer in raw["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}


def test_the_archive_names_the_image_as_the_render_does(archive: Path) -> None:
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        layout = json.load(tar.extractfile("oci-layout"))  # type: ignore[arg-type]
        (docker,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert docker["RepoTags"] == [DEFAULT_IMAGE]  # what `docker load` tags
    (entry,) = index["manifests"]  # what containerd (`ctr images import`, `kind load`) names it
    assert (
        entry["annotations"]["io.containerd.image.name"] == DEFAULT_IMAGE == f"localhost/idgate:{__version__}"
    )
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == __version__
    assert layout == {"imageLayoutVersion": "1.0.0"}


def test_the_config_runs_idgate_as_the_pods_user(image_config: dict[str, Any]) -> None:
    run = image_config["config"]
    assert run["User"] == f"{RUN_AS}:{RUN_AS}" == "65532:65532"
    assert run["Entrypoint"] == ["idgate"] and run["Cmd"] == ["serve"]
    assert run["WorkingDir"] == "/var/lib/idgate"
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(run["Env"])
    assert any(e.startswith("PATH=/opt/idgate/bin:") for e in run["Env"])
    ports = {int(p.split("/")[0]) for p in run["ExposedPorts"]}
    assert ports == {DEX_PORT, IapSection().port, HEALTH_PORT, 4180}  # provider, proxy, health, `serve`
    assert image_config["os"] == "linux" and len(image_config["rootfs"]["diff_ids"]) == 2


def entries(archive: Path, image_manifest: dict[str, Any]) -> dict[str, tarfile.TarInfo]:
    """Every path of the image (later layers win), with its tar header."""
    found: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(archive) as tar:
        for layer in image_manifest["layers"]:
            with tarfile.open(fileobj=tar.extractfile(blob(layer["digest"])), mode="r|gz") as inner:
                for member in inner:
                    found[member.name] = member
    return found


def test_the_layers_hold_idgate_and_no_compiler_pip_or_shell(
    archive: Path, image_manifest: dict[str, Any]
) -> None:
    paths = entries(archive, image_manifest)
    assert paths["opt/idgate/bin/idgate"].isreg()
    assert paths["etc/ssl/certs/ca-certificates.crt"].isreg()  # TLS to PostgreSQL, LDAP, GitHub
    assert paths["usr/share/zoneinfo/Europe/Berlin"].isreg()  # tzdata
    programs = {Path(p).name for p in paths if Path(p).parent.name in ("bin", "sbin")}
    assert {"python3.11", "idgate"} <= programs
    for tool in (
        "gcc",
        "cc",
        "c++",
        "ld",
        "as",
        "make",
        "pip",
        "pip3",
        "apt",
        "apt-get",
        "dpkg",
        "sh",
        "bash",
    ):
        assert tool not in programs, f"{tool} is in the image"
    assert not [p for p in paths if "/site-packages/pip/" in p or p.endswith((".c", ".h", ".pyx"))]
    assert not [p for p in paths if p.startswith(("dev/", "proc/", "sys/"))]  # the runtime mounts them
    assert not [
        p for p in paths if p.startswith(("var/lib/apt/", "var/cache/", "var/log/", "usr/share/man/"))
    ]


def test_only_var_lib_idgate_belongs_to_the_user_and_nothing_is_setuid(
    archive: Path, image_manifest: dict[str, Any]
) -> None:
    paths = entries(archive, image_manifest)
    state = paths["var/lib/idgate"]
    assert state.isdir() and (state.uid, state.gid) == (65532, 65532)
    assert not [p for p, m in paths.items() if (m.uid, m.gid) != (0, 0) and p != "var/lib/idgate"]
    assert not [p for p, m in paths.items() if m.mode & (stat.S_ISUID | stat.S_ISGID)]
    shared = [p for p, m in paths.items() if m.mode & stat.S_IWOTH and not m.issym()]
    assert all(paths[p].isdir() and paths[p].mode & stat.S_ISVTX for p in shared), shared  # like /tmp
    assert paths["tmp"].mode == 0o1777
    passwd = dict(line.split(":", 1) for line in read(archive, image_manifest, "etc/passwd").splitlines())
    assert passwd["idgate"].startswith("x:65532:65532:")


def read(archive: Path, image_manifest: dict[str, Any], path: str) -> str:
    found = None
    with tarfile.open(archive) as tar:
        for layer in image_manifest["layers"]:
            with tarfile.open(fileobj=tar.extractfile(blob(layer["digest"])), mode="r|gz") as inner:
                for member in inner:
                    if member.name == path:
                        found = inner.extractfile(member).read().decode()  # type: ignore[union-attr]
    assert found is not None, f"{path} is not in the image"
    return found


def test_it_is_small(archive: Path, rootfs: Path) -> None:
    unpacked = sum(
        os.lstat(Path(top) / name).st_size for top, dirs, files in os.walk(rootfs) for name in [*dirs, *files]
    )
    assert unpacked < MAX_UNPACKED, f"{unpacked / 2**20:.0f} MiB unpacked"
    assert os.path.getsize(archive) < 60 * 1024 * 1024


def test_the_base_keeps_dpkg_status_true_to_its_files(rootfs: Path) -> None:
    """A scanner reads /var/lib/dpkg/status: it lists what is there, and every listed package's files."""
    status = (rootfs / "var/lib/dpkg/status").read_text()
    listed = {line.split(": ", 1)[1] for line in status.splitlines() if line.startswith("Package: ")}
    assert {"python3.11", "libpython3.11-stdlib", "ca-certificates", "tzdata", "libssl3", "libc6"} <= listed
    assert not listed & {"dpkg", "bash", "dash", "coreutils", "perl-base", "debconf", "apt", "login"}
    assert (rootfs / "usr/bin/python3.11").is_file() and not (rootfs / "usr/bin/perl").exists()
    assert set(spec.PACKAGES) <= listed

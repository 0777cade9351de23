"""The app: idgate and its dependencies in ``/opt/idgate``, a virtualenv of the base's own Python.

1. :func:`fetch_tools` gets pip's wheel; :func:`build_wheel` builds idgate's wheel from the working tree,
   offline, with the running Python (``make image``: the project's venv), its setuptools and mypy: the
   request path compiled by mypyc (``setup.py``), for ``cp311`` like the image's Python 3.11.
2. :func:`download` runs pip *inside* the root file system (``chroot``, the one step with network): the
   image's own Python chooses the dependencies' wheels, so its version decides the environment markers
   (Debian's 3.11.2 needs ``async-timeout``, a newer 3.11 does not) and its glibc the platform tags. Only
   wheels: nothing is ever compiled. The caller caches the result, keyed by ``pyproject.toml``.
3. :func:`install` runs, inside the root file system, ``python3.11 -m venv --without-pip`` and pip from its
   wheel file with ``--no-index``: shebangs name ``/opt/idgate/bin/python``; pip itself is not installed.
4. :func:`trim` removes what does not run (extension sources, type stubs, ``activate`` scripts) and strips
   the extensions' debug symbols; every module is compiled (:func:`deploy.image.debian.compile_all`).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

from deploy.image import spec
from deploy.image.debian import CHROOT_ENV, chroot, compile_all

# Not needed at run time: the C/Cython sources and headers of extensions, type stubs, and the test suites
# packages ship as subpackages (sqlalchemy.testing, alembic.testing, greenlet.tests ...; no module outside
# them imports them).
SOURCE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".c", ".h", ".cpp", ".hpp", ".pyi")
TEST_PACKAGES = ("tests", "testing")
# What the download inside the chroot takes from the build machine's environment.
PASSED = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PIP_INDEX_URL")


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], check=True)


def fetch_tools(into: Path) -> None:
    """pip (run from its wheel inside the image), from the index."""
    _pip("download", "--quiet", "--dest", str(into), "--only-binary=:all:", "pip")


def build_wheel(into: Path) -> Path:
    """idgate's wheel from the working tree, offline, built by the running Python's setuptools without an
    isolated build env: mypy types the compiled modules with the dependencies installed beside it (an
    isolated env has none, and the build would fall back to Python). The wheel's extension modules are
    for this Python's ABI, ``cp311``, the image's too (Debian's 3.11 loads what a 3.11 built)."""
    if sys.version_info[:2] != (3, 11):
        raise SystemExit(f"the image runs {spec.PYTHON}: build it with a 3.11, not {sys.version.split()[0]}")
    if into.exists():
        shutil.rmtree(into)
    for stale in (spec.ROOT / "build").glob("lib.*"):  # setuptools never removes a deleted module from it
        shutil.rmtree(stale)
    _pip(
        "wheel", "--quiet", "--no-deps", "--no-index", "--no-build-isolation", "-w", str(into), str(spec.ROOT)
    )
    (wheel,) = into.glob("idgate-*.whl")
    return wheel


def _pip_wheel(tools: Path) -> Path:
    found = sorted(tools.glob("pip-*.whl"))
    if not found:
        raise SystemExit(f"no pip wheel in {tools}")
    return found[-1]


def _trusted() -> str:
    """The build machine's CA bundle, as its own pip would use it."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(name) and Path(os.environ[name]).is_file():
            return os.environ[name]
    default = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if not Path(default).is_file():
        raise SystemExit("no CA bundle on this machine (apt-get install ca-certificates)")
    return default


def download(root: Path, tools: Path, wheel: Path, into: Path) -> None:
    """The wheels idgate's ``wheel`` needs, chosen by the image's Python in ``root``, into ``into``."""
    stage = root / "tmp/download"
    stage.mkdir(parents=True)
    pip = _pip_wheel(tools)
    shutil.copy2(pip, stage / pip.name)
    shutil.copy2(wheel, stage / wheel.name)
    resolv = root / "etc/resolv.conf"
    shutil.copy2("/etc/resolv.conf", resolv)  # the host's name servers, for this step only
    shutil.copy2(_trusted(), stage / "ca.pem")  # and the CAs it trusts (a TLS-inspecting proxy's too)
    env = {
        **CHROOT_ENV,
        **{k: os.environ[k] for k in PASSED if k in os.environ},
        "PIP_CERT": "/tmp/download/ca.pem",
    }
    try:
        chroot(
            root,
            f"/usr/bin/{spec.PYTHON}",
            f"/tmp/download/{pip.name}/pip",
            "download",
            "--quiet",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--dest=/tmp/download/wheels",
            f"/tmp/download/{wheel.name}",
            env=env,
        )
        into.mkdir(parents=True, exist_ok=True)
        for whl in (stage / "wheels").glob("*.whl"):
            if not whl.name.startswith("idgate-"):
                shutil.move(whl, into / whl.name)
    finally:
        shutil.rmtree(stage)
        resolv.unlink()


def install(root: Path, wheels: Path, tools: Path, wheel: Path) -> None:
    """The virtualenv in ``root/opt/idgate``: idgate's ``wheel`` and its dependencies' ``wheels``, offline."""
    stage = root / "tmp/wheels"
    stage.mkdir(parents=True)
    pip = _pip_wheel(tools)
    for whl in [*wheels.glob("*.whl"), pip, wheel]:
        shutil.copy2(whl, stage / whl.name)
    try:
        chroot(root, f"/usr/bin/{spec.PYTHON}", "-m", "venv", "--without-pip", spec.VENV)
        chroot(
            root,
            f"{spec.VENV}/bin/python",
            f"/tmp/wheels/{pip.name}/pip",
            "install",
            "--isolated",
            "--quiet",
            "--no-index",
            "--no-cache-dir",
            "--no-compile",
            "--disable-pip-version-check",
            "--find-links=/tmp/wheels",
            f"/tmp/wheels/{wheel.name}",
        )
    finally:
        shutil.rmtree(stage)
    trim(root)
    compile_all(root, spec.VENV)


def trim(root: Path) -> None:
    venv = root / spec.VENV.lstrip("/")
    for script in venv.glob("bin/[aA]ctivate*"):
        script.unlink()
    site = venv / f"lib/{spec.PYTHON}/site-packages"
    for name in TEST_PACKAGES:
        for tests in site.glob(f"*/{name}"):
            if tests.is_dir() and (tests / "__init__.py").exists():
                shutil.rmtree(tests)
    for path in sorted(venv.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.suffix in SOURCE_SUFFIXES:
            path.unlink()
    strip = shutil.which("strip")
    if strip is None:
        raise SystemExit("strip is missing: run scripts/system-deps (apt-get install binutils)")
    extensions = sorted(str(p) for p in venv.rglob("*.so") if p.is_file() and not p.is_symlink())
    if extensions:
        subprocess.run([strip, "--strip-unneeded", *extensions], check=True)

"""What the image is, in one place: its Debian packages, its user, paths and run-time configuration.

``make image`` writes this into the archive's config; ``deploy/Dockerfile`` repeats the run-time part as
``USER``/``ENV``/``ENTRYPOINT``/``CMD``/``EXPOSE``/``LABEL`` lines, and ``tests/image`` checks that both say
the same thing.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository

SUITE = "bookworm"  # Debian 12: Python 3.11, glibc 2.36 (the image's own pip picks the wheels for them)
PYTHON = "python3.11"

# What the image runs on; everything they need (their Depends, not Recommends) comes with them.
# libstdc++6: the greenlet and frozenlist wheels link it (SQLAlchemy's asyncio engine needs greenlet, so
# without it a provider on PostgreSQL cannot start; tests/kubernetes found it).
PACKAGES = ("python3.11", "ca-certificates", "tzdata", "libstdc++6")
# Installed by mmdebstrap because the packages above need them to be *installed* (maintainer scripts,
# debconf questions), not to run; the trimmed base has none of their files.
BUILD_ONLY = ("dpkg", "debconf", "perl-base", "mawk")
# Files dpkg does not unpack at all: documentation (but each package's copyright), translations, the
# leap-second zoneinfo variants, glibc's iconv modules (Python does its own decoding).
DPKG_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
    "/usr/share/lintian/*",
    "/usr/share/zoneinfo/right/*",
    "/usr/lib/*/gconv/*",
)
DPKG_INCLUDES = ("/usr/share/doc/*/copyright",)
# Removed once installed (Python's maintainer scripts compile them, so dpkg must unpack them): the
# stdlib's regression-test support and pydoc's topics (``help()``).
UNUSED = ("usr/lib/python3.11/test", "usr/lib/python3.11/pydoc_data")

UID = GID = 65532  # the pods' runAsUser (idgate.deploy.common.RUN_AS)
USER_NAME = "idgate"
VENV = "/opt/idgate"
STATE = "/var/lib/idgate"  # the only writable place besides /tmp (SQLite; an emptyDir when rendered)
ENTRYPOINT = ("idgate",)
CMD = ("serve",)
# 4180: `idgate serve`'s default listener; 5556: the provider pods (the oauth chart's Dex port);
# 3000: the proxy pods (the iap chart's default `iap.port`); 8081: every pod's health and metrics.
PORTS = (3000, 4180, 5556, 8081)
ENV = (
    ("PATH", f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
    ("PYTHONDONTWRITEBYTECODE", "1"),  # read-only root file system: the .pyc files are in the image
    ("PYTHONUNBUFFERED", "1"),
)


def version() -> str:
    """idgate's version, from ``pyproject.toml`` (the build needs no installed idgate)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise SystemExit("pyproject.toml has no version")
    return found.group(1)


def reference(tag: str | None = None) -> str:
    """The name the archive carries and the render defaults to (``idgate.deploy.common.DEFAULT_IMAGE``):
    ``localhost/`` says "built here, in no registry", and no runtime resolves it against Docker Hub."""
    return f"localhost/idgate:{tag or version()}"


def labels(created: str, revision: str | None) -> dict[str, str]:
    found = {
        "org.opencontainers.image.title": "idgate",
        "org.opencontainers.image.description": "OpenID Connect provider and identity-aware proxy",
        "org.opencontainers.image.version": version(),
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.base.name": f"debian:{SUITE} (mmdebstrap, trimmed)",
        "org.opencontainers.image.created": created,
    }
    if revision:
        found["org.opencontainers.image.revision"] = revision
    return found

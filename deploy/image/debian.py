"""The base: Debian's packages, installed by mmdebstrap, then cut down to what runs.

1. ``mmdebstrap --variant=essential`` installs the ``Essential: yes`` set plus :data:`spec.PACKAGES` into
   a directory, running every maintainer script (so ``/etc/ssl/certs``, ``/etc/passwd``, the stdlib's
   ``.pyc`` files exist as Debian makes them). The merged-/usr hook makes ``/bin`` -> ``usr/bin`` without
   the ``usrmerge`` package (which would bring Perl).
2. :func:`trim` keeps only the packages that :data:`spec.PACKAGES` depend on, minus
   :data:`spec.BUILD_ONLY`: every other package's files are removed *by dpkg's own file lists*, its
   entry leaves ``/var/lib/dpkg/status`` (so a scanner sees exactly what is there), and what installing
   left behind (apt's and dpkg's state, logs, caches, dangling links) goes too. No shell remains; every
   file is root's, none set-id.
3. :func:`add_user` writes the ``idgate`` user and group (65532) and ``/var/lib/idgate``; the stdlib is
   compiled again as ``unchecked-hash`` (:func:`compile_all`); ``/dev`` is emptied.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

from deploy.image import spec

MERGED_USR_HOOKS = Path("/usr/share/mmdebstrap/hooks/merged-usr")
APT = Path("/etc/apt")
# Left by installing, owned by no package: apt's configuration and state, dpkg's logs and backups.
LEFTOVERS = (
    "etc/apt",
    "etc/dpkg",
    "etc/machine-id",
    "etc/hostname",
    "etc/resolv.conf",
    "etc/subuid",
    "etc/subgid",
    "etc/.pwd.lock",
    "etc/pam.d",
    "etc/security",
    "etc/systemd",
    "etc/group-",
    "etc/gshadow-",
    "etc/passwd-",
    "etc/shadow-",
    "var/backups",
    "var/cache",
    "var/lib/apt",
    "var/lib/dpkg/alternatives",
    "var/lib/dpkg/available",
    "var/lib/dpkg/diversions",
    "var/lib/dpkg/diversions-old",
    "var/lib/dpkg/status-old",
    "var/lib/dpkg/triggers",
    "var/lib/dpkg/updates",
    "var/lib/dpkg/lock",
    "var/lib/dpkg/lock-frontend",
    "var/lib/dpkg/cmethopt",
    "var/lib/dpkg/statoverride",
    "var/lib/dpkg/statoverride-old",
    "var/lib/pam",
    "var/lib/systemd",
    "var/log",
)


def sources() -> Path:
    """This machine's Debian sources, so that the image comes from the mirror it uses:
    ``IDGATE_IMAGE_SOURCES``, else ``sources.list.d/*debian.sources`` (Debian 12), else ``sources.list``."""
    chosen = os.environ.get("IDGATE_IMAGE_SOURCES")
    candidates = (
        [Path(chosen)]
        if chosen
        else [*sorted(APT.glob("sources.list.d/*debian.sources")), APT / "sources.list"]
    )
    for path in candidates:
        if path.is_file() and path.read_text(encoding="utf-8").strip():
            return path
    raise SystemExit(
        f"no Debian sources in {', '.join(map(str, candidates))} (IDGATE_IMAGE_SOURCES names one)"
    )


def mmdebstrap_argv(target: Path) -> list[str]:
    argv = [
        "mmdebstrap",
        "--quiet",
        "--variant=essential",
        "--mode=root",
        f"--hook-dir={MERGED_USR_HOOKS}",
        f"--include={','.join(spec.PACKAGES)}",
        '--aptopt=Acquire::Retries "3"',
    ]
    argv += [f"--dpkgopt=path-exclude={p}" for p in spec.DPKG_EXCLUDES]
    argv += [f"--dpkgopt=path-include={p}" for p in spec.DPKG_INCLUDES]
    return [*argv, spec.SUITE, str(target), str(sources())]


def install(target: Path) -> None:
    """mmdebstrap into ``target`` (which must not exist or be empty)."""
    if shutil.which("mmdebstrap") is None:
        raise SystemExit("mmdebstrap is missing: run scripts/system-deps (apt-get install mmdebstrap)")
    done = subprocess.run(mmdebstrap_argv(target), capture_output=True, text=True, check=False)
    if done.returncode != 0:  # its output only when it failed: the reason is near the end
        print(done.stdout[-6000:], done.stderr[-6000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"mmdebstrap failed (exit status {done.returncode})")


def build(target: Path) -> list[str]:
    """The whole base in ``target``; returns the kept packages as ``name=version`` lines."""
    install(target)
    kept = trim(target)
    add_user(target)
    compile_all(target, f"/usr/lib/{spec.PYTHON}")
    for entry in (target / "dev").iterdir():  # the runtime mounts /dev; device nodes stay out of layers
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return kept


CHROOT_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/nonexistent",
    "PYTHONDONTWRITEBYTECODE": "1",
}


def chroot(root: Path, *argv: str, env: dict[str, str] | None = None) -> None:
    """``argv`` inside ``root``, with a clean environment (no PIP_* or PYTHON* of the build machine)."""
    program = shutil.which("chroot") or "/usr/sbin/chroot"  # found on the host's PATH, not the clean one
    subprocess.run([program, str(root), *argv], check=True, env=env or CHROOT_ENV)


def compile_all(root: Path, where: str) -> None:
    """Every module under ``where`` (a path in the image) compiled by the image's own Python into
    ``unchecked-hash`` ``.pyc`` files: valid whatever the files' times (layers clamp them), never checked
    against their source at import (an image's files do not change)."""
    chroot(
        root,
        f"/usr/bin/{spec.PYTHON}",
        "-m",
        "compileall",
        "-q",
        "-f",
        "--invalidation-mode",
        "unchecked-hash",
        where,
    )


# --- dpkg's database ------------------------------------------------------------------------------------


def paragraphs(text: str) -> Iterator[tuple[str, dict[str, str]]]:
    """``/var/lib/dpkg/status`` as (raw paragraph, its top-level fields)."""
    for raw in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in raw.splitlines():
            if line and line[0] not in " \t" and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields:
            yield raw, fields


def _names(relation: str) -> list[str]:
    """``libc6 (>= 2.36), debconf | debconf-2.0`` -> alternatives per item: [["libc6"], ["debconf", ...]]."""
    return [re.split(r"[\s:(]", alt.strip(), maxsplit=1)[0] for alt in relation.split("|") if alt.strip()]


def closure(status: str, roots: Iterable[str], without: Iterable[str]) -> set[str]:
    """The installed packages ``roots`` need (Pre-Depends and Depends, through virtual packages)."""
    installed = {f["Package"]: f for _, f in paragraphs(status) if f.get("Status", "").endswith(" installed")}
    provides: dict[str, str] = {}
    for name, fields in installed.items():
        for virtual in fields.get("Provides", "").split(","):
            if virtual.strip():
                provides.setdefault(_names(virtual)[0], name)
    skip = set(without)
    keep: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in keep or name in skip:
            continue
        if name not in installed:
            raise SystemExit(f"package {name} is not installed in the base")
        keep.add(name)
        for field in ("Pre-Depends", "Depends"):
            for item in filter(None, (i.strip() for i in installed[name].get(field, "").split(","))):
                found = [n for n in _names(item) if n in installed] or [
                    provides[n] for n in _names(item) if n in provides
                ]
                if found:
                    todo.append(found[0])
    return keep


# --- trimming -------------------------------------------------------------------------------------------


def inside(root: Path, path: str, *, follow_last: bool = False) -> Path:
    """``path`` of the image as a path under ``root``, every symlink on the way resolved *inside* ``root``
    (``/bin`` is a link to ``usr/bin``; an absolute target means the image's root, never the host's; ``..``
    stops at the root). The last component is followed only with ``follow_last``."""
    parts = deque(path.split("/"))
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if (parts or follow_last) and candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise SystemExit(f"too many symbolic links in {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts.extendleft(reversed(target.split("/")))
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def _list(dpkg: Path, name: str) -> list[str]:
    for candidate in (dpkg / "info" / f"{name}.list", *sorted((dpkg / "info").glob(f"{name}:*.list"))):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").splitlines()
    return []


def trim(root: Path) -> list[str]:
    """Remove every package outside the closure of :data:`spec.PACKAGES`; returns the kept ones."""
    dpkg = root / "var/lib/dpkg"
    status = (dpkg / "status").read_text(encoding="utf-8")
    keep = closure(status, (*spec.PACKAGES, "base-files", "base-passwd"), spec.BUILD_ONLY)
    every = {f["Package"] for _, f in paragraphs(status)}
    kept_paths = {p for name in keep for p in _list(dpkg, name)}
    dirs: set[str] = set()
    for name in sorted(every - keep):
        for path in _list(dpkg, name):
            if path in kept_paths or path in ("/.", "/") or path.count("/") == 1:
                continue  # shared with a kept package, or a top-level directory (/bin is a link to usr/bin)
            where = inside(root, path)
            if where.is_symlink() or (where.exists() and not where.is_dir()):
                where.unlink()
            elif where.is_dir():
                dirs.add(path)
        for info in (dpkg / "info").glob(f"{name}[.:]*"):
            info.unlink()
    for path in sorted(dirs, key=lambda p: p.count("/"), reverse=True):
        where = inside(root, path)
        if where.is_dir() and not where.is_symlink() and not any(where.iterdir()):
            where.rmdir()
    kept = [raw for raw, f in paragraphs(status) if f["Package"] in keep]
    (dpkg / "status").write_text("\n\n".join(kept) + "\n", encoding="utf-8")
    for left in (*LEFTOVERS, *spec.UNUSED):
        _remove(root / left)
    _remove_dangling_links(root)
    _root_owned(root)
    return sorted(f"{f['Package']}={f.get('Version', '')}" for _, f in paragraphs("\n\n".join(kept)))


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _remove_dangling_links(root: Path) -> None:
    """Links to what the trim removed (``/etc/alternatives/awk``, ``/usr/bin/awk`` ...); ``/dev`` is left
    alone (its links point into ``/proc``, and no layer carries ``/dev``'s content)."""
    for top, dirnames, filenames in os.walk(root):
        here = Path(top)
        if here == root:
            dirnames[:] = [d for d in dirnames if d not in ("dev", "proc", "sys")]
        for name in [*dirnames, *filenames]:
            path = here / name
            if path.is_symlink():
                image_path = "/" + str(path.relative_to(root))
                if not inside(root, image_path, follow_last=True).exists():
                    path.unlink()


def _root_owned(root: Path) -> None:
    """Every file root's, no set-id bit: the groups Debian gives some (``staff``, ``mail``, ``shadow``) have
    no member in the image, and nobody in it may gain privileges."""
    for top, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(top) / name
            st = path.lstat()
            if (st.st_uid, st.st_gid) != (0, 0):
                os.lchown(path, 0, 0)
            if not path.is_symlink() and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                path.chmod(stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))


# --- the user -------------------------------------------------------------------------------------------


def add_user(root: Path) -> None:
    """``idgate`` (65532) in ``/etc/passwd`` and ``/etc/group`` (no shadow files: nobody logs in), its home
    ``/var/lib/idgate`` owned by it, mode 0750."""
    name, uid, gid = spec.USER_NAME, spec.UID, spec.GID
    lines = {
        "etc/passwd": f"{name}:x:{uid}:{gid}:idgate:{spec.STATE}:/usr/sbin/nologin",
        "etc/group": f"{name}:x:{gid}:",
    }
    for file, line in lines.items():
        path = root / file
        text = path.read_text(encoding="utf-8")
        if not any(entry.split(":", 1)[0] == name for entry in text.splitlines()):
            path.write_text(text.rstrip("\n") + "\n" + line + "\n", encoding="utf-8")
    state = root / spec.STATE.lstrip("/")
    state.mkdir(parents=True, exist_ok=True)
    os.chown(state, uid, gid)
    state.chmod(0o750)

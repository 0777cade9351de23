"""Theme files: what the provider serves under ``{issuer path}/theme/<file>``, as Dex serves its theme.

Three layers, a later one replacing a file of the same name::

    idgate's built-in files (logo.svg, favicon.png, styles.css: empty)
      < the files of <dex.frontend.dir>/themes/<dex.frontend.theme, default "light">/   (read at start-up)
      < dex.theme: file name -> base64 content, as the oauth chart takes it

Only plain file names with a known type are theme files (:func:`name_problem`): a name never holds a path,
so nothing outside the theme can be served, and every file goes out with its own ``Content-Type``. A
``styles.css`` from the second or third layer is linked after idgate's stylesheet on the provider's pages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONTENT_TYPES", "Theme", "ThemeFile", "decode_base64", "load_theme", "name_problem"]

log = logging.getLogger("idgate.provider")

BUILTIN = Path(__file__).parent / "theme"
CONTENT_TYPES: dict[str, str] = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".css": "text/css; charset=utf-8",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
}
#: A file of ``dex.frontend.dir`` larger than this is not read (a theme holds logos and fonts).
MAX_FILE_BYTES = 4 * 1024 * 1024
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a theme file, or ``None`` when it can."""
    if not _NAME.fullmatch(name) or ".." in name:
        return "expected a plain file name such as logo.svg (letters, digits, '.', '-', '_'; no path)"
    if Path(name).suffix.lower() not in CONTENT_TYPES:
        return f"unsupported file type (expected one of: {', '.join(CONTENT_TYPES)})"
    return None


def decode_base64(value: str) -> bytes | None:
    """The content of a ``dex.theme`` value (standard base64, line breaks allowed), or ``None``."""
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ThemeFile:
    """A theme file as served: its bytes, ``Content-Type`` and a version (for URLs and ``ETag``)."""

    body: bytes
    content_type: str
    version: str

    @classmethod
    def of(cls, name: str, body: bytes) -> ThemeFile:
        kind = CONTENT_TYPES[Path(name).suffix.lower()]
        return cls(body, kind, hashlib.sha256(body).hexdigest()[:12])


@dataclass(frozen=True, slots=True)
class Theme:
    """The merged theme: ``files`` by name; ``custom_css`` when ``styles.css`` is the operator's."""

    files: Mapping[str, ThemeFile]
    custom_css: bool = False

    def url(self, base: str, name: str) -> str:
        """``base/name?v=<version>``: a new file gets a new URL, so files may be cached for long."""
        found = self.files.get(name)
        return f"{base}/{name}" + (f"?v={found.version}" if found else "")


def _builtin() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(BUILTIN.iterdir()) if name_problem(p.name) is None}


def _from_dir(web_dir: str, theme: str) -> dict[str, bytes]:
    """The theme files of ``<web_dir>/themes/<theme>/`` (Dex's layout); a missing directory is logged."""
    folder = Path(web_dir) / "themes" / (theme or "light")
    if not folder.is_dir():
        log.warning("dex.frontend.dir: %s is not a directory; the built-in theme is used", folder)
        return {}
    found: dict[str, bytes] = {}
    for path in sorted(folder.iterdir()):
        if name_problem(path.name) is not None or not path.is_file():
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            log.warning("dex.frontend.dir: %s is larger than %d bytes; not served", path, MAX_FILE_BYTES)
            continue
        found[path.name] = path.read_bytes()
    return found


def load_theme(overrides: Iterable[tuple[str, bytes]] = (), web_dir: str = "", theme: str = "") -> Theme:
    """The built-in files, then ``web_dir``'s theme ``theme``, then ``overrides`` (``dex.theme``)."""
    files = _builtin()
    operator: dict[str, bytes] = _from_dir(web_dir, theme) if web_dir else {}
    operator.update(overrides)
    files.update(operator)
    css = operator.get("styles.css", b"")
    return Theme(
        {name: ThemeFile.of(name, body) for name, body in files.items()},
        custom_css=bool(css.strip()),
    )

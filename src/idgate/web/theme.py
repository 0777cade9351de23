"""Theme files: what the provider serves under ``{issuer path}/theme/<file>``, as Dex serves its theme.

Three layers, a later one replacing a file of the same name::

    idgate's built-in files (logo.svg, favicon.png, styles.css: empty)
      < the files of <dex.frontend.dir>/themes/<dex.frontend.theme, default "light">/   (read at start-up)
      < dex.theme: file name -> base64 content, as the oauth chart takes it

Only plain file names with a known type are theme files (:mod:`idgate.config.theme_files`, the rules
``check`` applies too): a name never holds a path, so nothing outside the theme can be served, and every
file goes out with its own ``Content-Type``. A
``styles.css`` from the second or third layer is linked after idgate's stylesheet on the provider's pages.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from idgate.config.theme_files import CONTENT_TYPES, name_problem

__all__ = ["CONTENT_TYPES", "Theme", "ThemeFile", "load_theme", "name_problem"]

log = logging.getLogger("idgate.provider")

BUILTIN = Path(__file__).parent / "theme"
#: A file of ``dex.frontend.dir`` larger than this is not read (a theme holds logos and fonts).
MAX_FILE_BYTES = 4 * 1024 * 1024


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

"""Which theme files a values file may name, and how ``dex.theme`` holds them: the rules ``check`` applies
and the web layer (:mod:`idgate.web.theme`) serves by. A name is a plain file name of a known type, so it
never holds a path and every file goes out with its own ``Content-Type``.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

__all__ = ["CONTENT_TYPES", "decode_base64", "name_problem"]

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

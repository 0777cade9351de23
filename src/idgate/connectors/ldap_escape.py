"""Escaping values into LDAP search filters (RFC 4515) and distinguished names (RFC 4514). Pure.

Whatever a person types as a username, or any attribute value read back from the directory, goes into a
filter only through :func:`escape_filter`, so ``*)(uid=*`` searches for that literal string instead of
widening the search.
"""

from __future__ import annotations

__all__ = ["escape_dn", "escape_filter"]

# RFC 4515 §3: in an assertion value, these must be written as a backslash and two hex digits.
_FILTER_SPECIALS = {"\\": "\\5c", "*": "\\2a", "(": "\\28", ")": "\\29", "\x00": "\\00"}

# RFC 4514 §2.4: escaped with a backslash anywhere in an attribute value.
_DN_SPECIALS = set('"+,;<>\\=')


def escape_filter(value: str) -> str:
    """``value`` as an RFC 4515 assertion value: ``\\ * ( )`` and NUL become ``\\5c \\2a \\28 \\29 \\00``."""
    return "".join(_FILTER_SPECIALS.get(ch, ch) for ch in value)


def escape_dn(value: str) -> str:
    """``value`` as an RFC 4514 attribute value of a DN (``cn=<value>,ou=...``).

    ``" + , ; < > \\ =`` get a backslash; a leading ``#`` or space and a trailing space are escaped;
    NUL becomes ``\\00``.
    """
    out = []
    for i, ch in enumerate(value):
        if ch == "\x00":
            out.append("\\00")
        elif ch in _DN_SPECIALS or (i == 0 and ch in "# ") or (i == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)

"""The path a ``skip_auth_regex`` is matched against: normalised, never the query.

An upstream sees ``/-/healthy/../admin`` as ``/admin``; matching the raw text would let the request skip
authentication. So the path is brought to the form the upstream will act on first (RFC 3986 §6.2.2):

- percent-encoded *unreserved* characters are decoded (``%2e`` -> ``.``), other escapes upper-cased;
- ``.`` and ``..`` segments are resolved (RFC 3986 §5.2.4), ``//`` runs collapsed.

A path that cannot be normalised safely gives ``None``, and ``None`` is never skipped: a malformed
escape, an encoded ``/``, ``\\``, NUL, ``#``, ``?`` or ``%`` (``%2F``, ``%5C``, ``%00``, ``%23``,
``%3F``, ``%25``: double encoding), an overlong UTF-8 lead byte (``%C0``, ``%C1``), a raw backslash
or ``#``, ``;`` (path
parameters: ``/-/healthy/..;/admin`` is ``/admin`` to some servers), control or non-ASCII characters,
or anything not starting with ``/``.
"""

from __future__ import annotations

import re
import string

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_HEX = frozenset(string.hexdigits)
# "/" "\" NUL; "#" "?" (a double-parsing upstream ends the path there); "%" (double encoding:
# %252F); C0/C1 (overlong UTF-8: %C0%AE is "." to a lax decoder)
_UNSAFE_ESCAPES = frozenset({"2F", "5C", "00", "23", "3F", "25", "C0", "C1"})
_PLAIN = re.compile(r"/(?:[A-Za-z0-9\-._~!$&'()*+,=:@]+/)*[A-Za-z0-9\-._~!$&'()*+,=:@]*\Z")


def _decode_unreserved(path: str) -> str | None:
    out: list[str] = []
    i, n = 0, len(path)
    while i < n:
        ch = path[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        pair = path[i + 1 : i + 3]
        if len(pair) != 2 or not (pair[0] in _HEX and pair[1] in _HEX):
            return None
        pair = pair.upper()
        if pair in _UNSAFE_ESCAPES:
            return None
        decoded = chr(int(pair, 16))
        out.append(decoded if decoded in _UNRESERVED else "%" + pair)
        i += 3
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    segments: list[str] = []
    parts = path.split("/")
    for index, seg in enumerate(parts[1:], start=1):
        last = index == len(parts) - 1
        if seg == "..":
            if segments:
                segments.pop()
            if last:
                segments.append("")
        elif seg == ".":
            if last:
                segments.append("")
        elif seg == "" and not last:
            continue  # collapse "//"
        else:
            segments.append(seg)
    return "/" + "/".join(segments)


def normalise_path(path: str) -> str | None:
    """The normalised form of a request path (no query), or ``None`` when it is unsafe to match."""
    if _PLAIN.match(path) is not None and "/." not in path:
        return path  # fast path: nothing to decode, no dot segment, no empty segment
    if not path.startswith("/"):
        return None
    for ch in path:
        if ch <= " " or ch >= "\x7f" or ch in "\\;#":
            return None
    decoded = _decode_unreserved(path)
    if decoded is None:
        return None
    return _remove_dot_segments(decoded)

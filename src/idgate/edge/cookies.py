"""The session cookie on the wire, as the edge handles it. Nothing here does I/O or keeps state.

- :func:`split_cookies` finds the session cookie (whole, or its chunks ``name_0``...) in the ``Cookie``
  headers by a hand split (not :mod:`http.cookies`), and keeps every other cookie for the upstream;
  :class:`~idgate.edge.gate.Gate` remembers the split per header value (at most :data:`SPLIT_MEMO_SIZE`
  headers of at most :data:`SPLIT_MEMO_BYTES` each).
- :func:`renewed_cookies` and :func:`cleared_cookies` are the ``Set-Cookie`` headers of a refreshed
  session and of one that ended.
- :func:`with_copies` repeats them as ``X-Idgate-Set-Cookie-<n>`` for ``/oauth/auth``, whose caller
  (nginx ``auth_request``) copies them to the browser one by one (see ``SET_COOKIE_COPY``).
"""

from __future__ import annotations

from idgate.proxy.cookies import CookiePolicy
from idgate.proxy.headers import SET_COOKIE_COPY
from idgate.sessions.sealing import MAX_CHUNKS, split_chunks

#: Cookie headers remembered with their split (a browser sends the same one each time), and the
#: largest one remembered: at most ~4 MiB per deployment.
SPLIT_MEMO_SIZE = 512
SPLIT_MEMO_BYTES = 4096


def split_cookies(headers: list[bytes], name: bytes, csrf: bytes) -> tuple[str | None, bytes | None]:
    """Find the session cookie ``name`` (or its chunks ``name_0``...) by a hand split.

    Returns the sealed value (chunks joined; a whole ``name`` wins over chunks) and the Cookie header
    to send upstream: every other cookie, in order, without the session, its chunks and ``csrf``
    (``None`` when nothing is left).
    """
    whole: bytes | None = None
    chunks: dict[int, bytes] = {}
    kept: list[bytes] = []
    prefix = name + b"_"
    for header in headers:
        for part in header.split(b";"):
            pair = part.strip()
            if not pair:
                continue
            key, _, value = pair.partition(b"=")
            key = key.strip()
            if key.startswith(name):
                if key == name:
                    whole = value.strip()
                    continue
                if key == csrf:
                    continue
                suffix = key[len(prefix) :] if key.startswith(prefix) else b""
                if suffix.isdigit() and len(suffix) <= 2:
                    chunks[int(suffix)] = value.strip()
                    continue
            kept.append(pair)
    rest = b"; ".join(kept) if kept else None
    if whole is not None:
        return whole.decode("latin-1"), rest
    parts: list[bytes] = []
    for i in range(MAX_CHUNKS):
        piece = chunks.get(i)
        if piece is None:
            break
        parts.append(piece)
    return (b"".join(parts).decode("latin-1") if parts else None), rest


def renewed_cookies(
    policy: CookiePolicy, name: str, value: str, *, max_age: float, proto: str
) -> list[tuple[bytes, bytes]]:
    """``Set-Cookie`` headers for the sealed ``value`` of a refreshed session (chunked as needed)."""
    return [
        (b"Set-Cookie", policy.header(chunk, part, max_age=max_age, proto=proto).encode("latin-1"))
        for chunk, part in split_chunks(name, value)
    ]


def cleared_cookies(policy: CookiePolicy, name: str, proto: str) -> list[tuple[bytes, bytes]]:
    """``Set-Cookie`` headers that clear the session cookie ``name`` and every chunk it may have had."""
    names = [name, *(f"{name}_{i}" for i in range(MAX_CHUNKS))]
    return [(b"Set-Cookie", policy.header(n, "", max_age=0, proto=proto).encode()) for n in names]


_SET_COOKIE_COPY_B = SET_COOKIE_COPY.encode()


def with_copies(set_cookies: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``set_cookies``, then each value again as ``X-Idgate-Set-Cookie-<n>`` (see ``SET_COOKIE_COPY``)."""
    copies = [(b"%s%d" % (_SET_COOKIE_COPY_B, i), value) for i, (_, value) in enumerate(set_cookies)]
    return [*set_cookies, *copies]

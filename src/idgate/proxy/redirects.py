"""Post-login redirect targets: the one place that decides where a browser may be sent after sign-in.

Every redirect sink of the proxy (``rd`` on ``/oauth/start``, ``/oauth/sign_in`` and ``/oauth/sign_out``,
the ``X-Auth-Request-Redirect`` header, the target carried through ``state``) calls
:func:`validate_redirect`. It is pure: no framework, no I/O.

A target is accepted when it is either

* a **path on the same origin**: it starts with exactly one ``/``; it holds no backslash, no control
  character, no whitespace, and no Unicode character that browsers or IDNA fold to ``/``, ``\\``, ``.``,
  ``:``, ``@``, ``?``, ``#`` or ``%``; and its path part, percent-decoded again and again (as some
  intermediaries and browsers do), holds no ``//``, backslash, control character or whitespace; or
* an **absolute** ``http``/``https`` URL (``scheme://`` written out) with no userinfo, whose host,
  after IDNA normalisation, is the deployment's own host or matches ``whitelist_domains``.

``whitelist_domains`` has OAuth2-Proxy's forms: ``host`` (exactly that host), ``.suffix`` and
``*.suffix`` (the suffix's apex and any subdomain), each optionally with ``:port`` (only that port) or
``:*`` (any port); without a port, only URLs without an explicit port match.

The returned target is re-serialised (lower-case scheme and host, non-ASCII percent-encoded), so what
goes into a ``Location`` header is plain ASCII and means what was checked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import quote, unquote, urlsplit

__all__ = ["validate_redirect"]

# Characters that browsers, IDNA (UTS #46) or NFKC turn into URL delimiters, beyond what NFKC shows.
_CONFUSABLES = frozenset(
    "\uff0f\u2215\u2044\u29f8\u2571\u1735"  # fullwidth solidus, division/fraction slash, big solidus...
    "\ufe68\uff3c\u29f5\u29f9\u2216\u2572"  # small/fullwidth reverse solidus, set minus...
    "\u3002\uff0e\uff61\ufe52\u2024"  # ideographic/fullwidth/halfwidth full stop, one dot leader
    "\uff1a\ufe55\ufe13\uff20\ufe6b\uff1f\ufe56\uff03\ufe5f\uff05\ufe6a"  # colon, at, ?, #, % forms
    "\u3031\u3035\u309d\u30fc\uff70"  # vertical kana repeat marks, prolonged sound marks
)
_DELIMITERS = frozenset("/\\.:@?#%")
_MAX_DECODE_ROUNDS = 5
_MAX_LENGTH = 4096
_HOST_LABELS = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _bad_char(ch: str) -> bool:
    """Control, whitespace, backslash, or a character that folds into a URL delimiter."""
    if ch == "\\" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp"):
        return True
    if ord(ch) < 128:
        return False
    if ch in _CONFUSABLES:
        return True
    folded = unicodedata.normalize("NFKC", ch)
    return any(c in _DELIMITERS or ord(c) < 32 for c in folded)


def _clean(text: str) -> bool:
    return not any(_bad_char(ch) for ch in text)


def _decoded_layers(text: str) -> list[str] | None:
    """``text`` and each further percent-decoding of it until stable; ``None`` if it never settles."""
    layers = [text]
    for _ in range(_MAX_DECODE_ROUNDS):
        nxt = unquote(layers[-1], errors="replace")
        if nxt == layers[-1]:
            return layers
        layers.append(nxt)
    return None


def _path_part(text: str) -> str:
    for i, ch in enumerate(text):
        if ch in "?#":
            return text[:i]
    return text


def _escape(text: str) -> str:
    """Percent-encode what is not printable ASCII; keep everything else (and existing escapes)."""
    return quote(text, safe="".join(chr(c) for c in range(0x21, 0x7F)))


def _relative(rd: str) -> str | None:
    if rd[:1] != "/" or rd[1:2] in ("/", "\\") or not _clean(rd):
        return None
    layers = _decoded_layers(rd)
    if layers is None:
        return None
    for layer in layers:
        path = _path_part(layer)
        if not path.startswith("/") or "//" in path or not _clean(path):
            return None
    return _escape(rd)


def normalise_host(host: str) -> str | None:
    """A host as browsers compare it: lower-case ASCII (IDNA), no trailing dot; ``None`` if invalid."""
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1].lower()
        return host.lower() if inner and re.fullmatch(r"[0-9a-f:.]+", inner) else None
    if not host or not _clean(host) or "%" in host:
        return None
    if not host.isascii():
        try:
            host = unicodedata.normalize("NFKC", host).encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    return host if _HOST_LABELS.fullmatch(host) else None


def _split_allowed(entry: str) -> tuple[str, str | None] | None:
    """``"host:port"`` -> ``(host, port)``; port ``None`` when absent, ``"*"`` for any port."""
    entry = entry.strip()
    port: str | None = None
    head, sep, tail = entry.rpartition(":")
    if sep and not entry.endswith("]") and (tail == "*" or tail.isdigit()):
        entry, port = head, tail
    return (entry, port) if entry else None


def _host_matches(host: str, port: int | None, allowed: str) -> bool:
    split = _split_allowed(allowed)
    if split is None:
        return False
    pattern, allowed_port = split
    if pattern.startswith("*."):
        pattern, subdomains = pattern[2:], True
    elif pattern.startswith("."):
        pattern, subdomains = pattern[1:], True
    else:
        subdomains = False
    base = normalise_host(pattern)
    if base is None:
        return False
    if not (host == base or (subdomains and host.endswith("." + base))):
        return False
    if allowed_port == "*":
        return True
    if allowed_port is None:
        return port is None
    return port == int(allowed_port)


def _own_host(host: str, port: int | None, scheme: str, own: str) -> bool:
    split = _split_allowed(own)
    if split is None or split[1] == "*":
        return False
    name = normalise_host(split[0])
    if name is None or host != name:
        return False
    default = _DEFAULT_PORTS[scheme]
    own_port = int(split[1]) if split[1] is not None else default
    return (port if port is not None else default) == own_port


def _absolute(rd: str, host: str, whitelist_domains: Sequence[str]) -> str | None:
    scheme, sep, rest = rd.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS or not _clean(rd) or rest[:1] in ("/", ""):
        return None
    try:
        parts = urlsplit(f"{scheme}://{rest}")
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 literal): refused, never a 500
        return None
    netloc = parts.netloc
    if "@" in netloc or not netloc:
        return None
    if netloc.startswith("["):
        close = netloc.find("]")
        name, port_text = netloc[: close + 1], netloc[close + 1 :]
    else:
        name, _, port_text = netloc.partition(":")
        port_text = ":" + port_text if ":" in netloc else ""
    if port_text and not (port_text == ":" or re.fullmatch(r":[0-9]{1,5}", port_text)):
        return None
    port = int(port_text[1:]) if len(port_text) > 1 else None
    if port is not None and not 0 < port < 65536:
        return None
    canonical = normalise_host(name)
    if canonical is None:
        return None
    allowed = _own_host(canonical, port, scheme, host) or any(
        _host_matches(canonical, port, entry) for entry in whitelist_domains
    )
    if not allowed:
        return None
    authority = canonical + (f":{port}" if port is not None else "")
    tail = rd[len(scheme) + 3 + len(netloc) :]
    return f"{scheme}://{authority}{_escape(tail)}"


def validate_redirect(rd: str, *, host: str, whitelist_domains: Sequence[str] = ()) -> str | None:
    """The safe post-login target for ``rd``, or ``None`` when it must not be followed.

    ``host`` is the deployment's configured host (``ingress.host``, maybe with a port); it is never
    taken from the request.
    """
    if not rd or len(rd) > _MAX_LENGTH:
        return None
    if rd.startswith("/"):
        return _relative(rd)
    if re.match(r"(?i)https?://", rd):
        return _absolute(rd, host, whitelist_domains)
    return None

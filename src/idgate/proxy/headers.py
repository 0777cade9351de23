"""Identity headers: which ones the proxy sets, and which ones a client may never send. Pure.

An upstream trusts ``X-Forwarded-Email`` because only the proxy can set it, so every client-sent
header that could be read as identity is removed first, whatever its case and whether it is spelled
with ``_`` instead of ``-`` (CGI-style servers map both to ``HTTP_X_FORWARDED_EMAIL``):

- ``X-Forwarded-User``, ``-Email``, ``-Groups``, ``-Preferred-Username``, ``-Access-Token``;
- any ``X-Auth-Request-*`` (what ``/oauth/auth`` answers to nginx) and any ``X-Idgate-*`` (idgate's
  own signals to its web apps, e.g. ``X-Idgate-Deployment``).

Values come from the session (ultimately from an ID token): a value with a control character (CR, LF,
NUL...) is dropped rather than sent, so no claim can inject a header line. ``Authorization`` is left
alone: the proxy does not set it.
"""

from __future__ import annotations

from idgate.sessions.base import Session

FORWARDED_USER = "X-Forwarded-User"
FORWARDED_EMAIL = "X-Forwarded-Email"
FORWARDED_GROUPS = "X-Forwarded-Groups"
FORWARDED_PREFERRED_USERNAME = "X-Forwarded-Preferred-Username"
FORWARDED_ACCESS_TOKEN = "X-Forwarded-Access-Token"

AUTH_REQUEST_USER = "X-Auth-Request-User"
AUTH_REQUEST_EMAIL = "X-Auth-Request-Email"
AUTH_REQUEST_GROUPS = "X-Auth-Request-Groups"
AUTH_REQUEST_PREFERRED_USERNAME = "X-Auth-Request-Preferred-Username"

DEPLOYMENT_HEADER = "X-Idgate-Deployment"

#: Normalised (lower-case, ``-``) names a client may never send to any upstream.
RESERVED_NAMES: frozenset[str] = frozenset(
    n.lower()
    for n in (
        FORWARDED_USER,
        FORWARDED_EMAIL,
        FORWARDED_GROUPS,
        FORWARDED_PREFERRED_USERNAME,
        FORWARDED_ACCESS_TOKEN,
    )
)
#: Normalised prefixes a client may never send.
RESERVED_PREFIXES: tuple[str, ...] = ("x-auth-request-", "x-idgate-")

#: Byte forms of the above, for the edge's parser callbacks.
RESERVED_NAMES_B: frozenset[bytes] = frozenset(n.encode() for n in RESERVED_NAMES)
RESERVED_PREFIXES_B: tuple[bytes, ...] = tuple(p.encode() for p in RESERVED_PREFIXES)


def normalise_name(name: str) -> str:
    """The comparison form of a header name: lower-case, ``_`` read as ``-``."""
    return name.lower().replace("_", "-")


def is_reserved(name: str) -> bool:
    """Whether a client-sent header ``name`` must be removed before any upstream sees it."""
    key = normalise_name(name)
    return key in RESERVED_NAMES or key.startswith(RESERVED_PREFIXES)


def is_reserved_bytes(lower_name: bytes) -> bool:
    """:func:`is_reserved` for an already lower-cased byte name (the edge's hot path)."""
    if b"_" in lower_name:
        lower_name = lower_name.replace(b"_", b"-")
    return lower_name in RESERVED_NAMES_B or lower_name.startswith(RESERVED_PREFIXES_B)


def safe_value(value: str) -> str | None:
    """``value`` if it can be sent as a header value unchanged, else ``None`` (drop it).

    Control characters (including CR, LF, NUL, DEL) are refused; leading or trailing blanks are
    refused too, since a receiver would strip them and see another value.
    """
    if value != value.strip(" \t"):
        return None
    for ch in value:
        if ch < " " or ch == "\x7f":
            return None
    return value


def _groups_value(groups: tuple[str, ...]) -> str | None:
    kept = [g for g in groups if safe_value(g) is not None and "," not in g and g]
    return ",".join(kept) if kept else None


def _identity(session: Session, names: tuple[str, str, str, str]) -> list[tuple[str, str]]:
    values = (
        safe_value(session.user),
        safe_value(session.email),
        _groups_value(session.groups),
        safe_value(session.preferred_username),
    )
    return [(name, value) for name, value in zip(names, values, strict=True) if value]


def upstream_identity_headers(session: Session) -> list[tuple[str, str]]:
    """What the upstream receives about the signed-in person (``pass_user_headers``)."""
    return _identity(
        session,
        (FORWARDED_USER, FORWARDED_EMAIL, FORWARDED_GROUPS, FORWARDED_PREFERRED_USERNAME),
    )


def auth_response_headers(session: Session) -> list[tuple[str, str]]:
    """What ``/oauth/auth`` answers on 202, for nginx ``auth_request_set``."""
    return _identity(
        session,
        (AUTH_REQUEST_USER, AUTH_REQUEST_EMAIL, AUTH_REQUEST_GROUPS, AUTH_REQUEST_PREFERRED_USERNAME),
    )

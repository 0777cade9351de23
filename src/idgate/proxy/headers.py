"""Identity headers: which ones the proxy sets, and which ones a client may never send. Pure.

An upstream trusts ``X-Forwarded-Email`` because only the proxy can set it, so every client-sent
header that could be read as identity is removed first, whatever its case and whether it is spelled
with ``_`` instead of ``-`` (CGI-style servers map both to ``HTTP_X_FORWARDED_EMAIL``):

- ``X-Forwarded-User``, ``-Email``, ``-Groups``, ``-Preferred-Username``, ``-Access-Token``;
- any ``X-Auth-Request-*`` (what ``/oauth/auth`` answers to nginx) and any ``X-Idgate-*`` (idgate's
  own signals to its web apps, e.g. ``X-Idgate-Deployment``).

Values come from the session (ultimately from an ID token): a value with a control character (CR, LF,
NUL...) is dropped rather than sent, so no claim can inject a header line. ``Authorization`` is the
client's unless ``pass_authorization_header`` (then the edge drops the client's and sets its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from idgate.sessions.base import Session
from idgate.settings import ProxySettings

FORWARDED_USER = "X-Forwarded-User"
FORWARDED_EMAIL = "X-Forwarded-Email"
FORWARDED_GROUPS = "X-Forwarded-Groups"
FORWARDED_PREFERRED_USERNAME = "X-Forwarded-Preferred-Username"
FORWARDED_ACCESS_TOKEN = "X-Forwarded-Access-Token"

AUTH_REQUEST_USER = "X-Auth-Request-User"
AUTH_REQUEST_EMAIL = "X-Auth-Request-Email"
AUTH_REQUEST_GROUPS = "X-Auth-Request-Groups"
AUTH_REQUEST_PREFERRED_USERNAME = "X-Auth-Request-Preferred-Username"
AUTH_REQUEST_ACCESS_TOKEN = "X-Auth-Request-Access-Token"

DEPLOYMENT_HEADER = "X-Idgate-Deployment"
#: ``/oauth/auth`` repeats each ``Set-Cookie`` of its answer (a refreshed session, in up to
#: :data:`~idgate.sessions.cookie.MAX_CHUNKS` cookies) as ``X-Idgate-Set-Cookie-0``, ``-1``...: nginx
#: copies numbered headers one by one, while its ``$upstream_http_set_cookie`` holds only the first of
#: several (before 1.23) or all of them joined with ``", "`` (1.23 and later), which no browser splits.
SET_COOKIE_COPY = "X-Idgate-Set-Cookie-"

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
    if value != value.strip(" \t") or _CONTROL.search(value) is not None:
        return None
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f]")


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


@dataclass(frozen=True, slots=True)
class HeaderOptions:
    """The OAuth2-Proxy options that shape identity headers, read once from the settings."""

    pass_user_headers: bool = True
    prefer_email_to_user: bool = False
    pass_access_token: bool = False
    pass_authorization_header: bool = False
    set_xauthrequest: bool = False
    set_authorization_header: bool = False

    @classmethod
    def of(cls, p: ProxySettings) -> HeaderOptions:
        return cls(
            pass_user_headers=p.pass_user_headers,
            prefer_email_to_user=p.prefer_email_to_user,
            pass_access_token=p.pass_access_token,
            pass_authorization_header=p.pass_authorization_header,
            set_xauthrequest=p.set_xauthrequest,
            set_authorization_header=p.set_authorization_header,
        )


def _user_first(pairs: list[tuple[str, str]], session: Session, user_header: str, prefer_email: bool) -> None:
    if prefer_email:
        email = safe_value(session.email)
        pairs[:] = [(n, v) for n, v in pairs if n != user_header]
        if email:
            pairs.insert(0, (user_header, email))


def _bearer(token: str | None) -> str | None:
    value = safe_value(token) if token else None
    return f"Bearer {value}" if value else None


def upstream_headers(session: Session, o: HeaderOptions) -> list[tuple[str, str]]:
    """Every identity header the upstream receives, per the options (values already safe)."""
    out: list[tuple[str, str]] = []
    if o.pass_user_headers:
        out += upstream_identity_headers(session)
        _user_first(out, session, FORWARDED_USER, o.prefer_email_to_user)
    if o.set_xauthrequest:
        out += auth_response_headers(session)
        _user_first(out, session, AUTH_REQUEST_USER, o.prefer_email_to_user)
    # The tokens (a kilobyte or more) are checked only when an option sends them.
    token = safe_value(session.access_token) if o.pass_access_token and session.access_token else None
    if token:
        out.append((FORWARDED_ACCESS_TOKEN, token))
    bearer = _bearer(session.id_token) if o.pass_authorization_header else None
    if bearer:
        out.append(("Authorization", bearer))
    return out


def auth_headers(session: Session, o: HeaderOptions) -> list[tuple[str, str]]:
    """What ``/oauth/auth`` answers on 202: ``X-Auth-Request-*``, and the tokens the options ask for."""
    out = auth_response_headers(session)
    _user_first(out, session, AUTH_REQUEST_USER, o.prefer_email_to_user)
    wants_token = o.set_xauthrequest and o.pass_access_token
    token = safe_value(session.access_token) if wants_token and session.access_token else None
    if token:
        out.append((AUTH_REQUEST_ACCESS_TOKEN, token))
    bearer = _bearer(session.id_token) if o.set_authorization_header else None
    if bearer:
        out.append(("Authorization", bearer))
    return out

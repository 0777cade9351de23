"""Identity headers: which ones the proxy sets, and which ones a client may never send. Pure.

An upstream trusts ``X-Forwarded-Email`` because only the proxy can set it, so every client-sent
header that could be read as identity is removed first, whatever its case and whether it is spelled
with ``_`` instead of ``-`` (CGI-style servers map both to ``HTTP_X_FORWARDED_EMAIL``):

- ``X-Forwarded-User``, ``-Email``, ``-Groups``, ``-Preferred-Username``, ``-Access-Token``;
- any ``X-Auth-Request-*`` (what ``/oauth/auth`` answers to nginx) and any ``X-Idgate-*`` (idgate's
  own signals to its web apps, e.g. ``X-Idgate-Deployment``);
- by default, the identity headers of other proxies and gateways that upstreams are commonly told to
  trust (:data:`~idgate.wire.FOREIGN_IDENTITY_HEADERS`: ``Remote-User``, ``X-Remote-User``,
  ``OIDC_CLAIM_email``, ``X-WEBAUTH-USER``, ``Impersonate-User`` ...). ``idgate.identity_headers`` adds
  names (``strip``) or lets some of these through (``allow``); idgate's own names above are always
  removed (:func:`stripped_names`).

Values come from the session (ultimately from an ID token): a value with a control character (CR, LF,
NUL...) is dropped rather than sent, so no claim can inject a header line. ``Authorization`` is the
client's unless ``pass_authorization_header`` (then the edge drops the client's and sets its own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from idgate.sessions.base import Session
from idgate.settings import ProxySettings
from idgate.wire import FOREIGN_IDENTITY_HEADERS, normalise_name, normalise_pattern

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
#: :data:`~idgate.sessions.sealing.MAX_CHUNKS` cookies) as ``X-Idgate-Set-Cookie-0``, ``-1``...: nginx
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


def stripped_names(
    strip: tuple[str, ...] = (), allow: tuple[str, ...] = ()
) -> tuple[frozenset[str], tuple[str, ...]]:
    """The normalised names and prefixes a client may never send: idgate's own, the default foreign
    ones except those in ``allow``, and those in ``strip`` (entries as :data:`FOREIGN_IDENTITY_HEADERS`
    writes them; ``allow`` can only take entries of that list, the config checks it)."""
    allowed = {normalise_pattern(p) for p in allow}
    patterns = [p for p in map(normalise_pattern, FOREIGN_IDENTITY_HEADERS) if p not in allowed]
    patterns += map(normalise_pattern, strip)
    names = set(RESERVED_NAMES) | {p for p in patterns if not p.endswith("*")}
    prefixes = dict.fromkeys([*RESERVED_PREFIXES, *(p[:-1] for p in patterns if p.endswith("*"))])
    return frozenset(names), tuple(prefixes)


_DEFAULT_NAMES, _DEFAULT_PREFIXES = stripped_names()


def is_reserved(name: str) -> bool:
    """Whether a client-sent header ``name`` is removed (by default) before any upstream sees it."""
    key = normalise_name(name)
    return key in _DEFAULT_NAMES or key.startswith(_DEFAULT_PREFIXES)


def safe_value(value: str) -> str | None:
    """``value`` if it can be sent as a header value unchanged, else ``None`` (drop it).

    Control characters (including CR, LF, NUL, DEL) are refused; leading or trailing blanks are
    refused too, since a receiver would strip them and see another value.
    """
    if value.isprintable():  # the common case, told fastest: no control character (so no tab either)
        return value if value == value.strip(" ") else None
    if value != value.strip(" \t") or _CONTROL.search(value) is not None:
        return None
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f]")

#: A header as the edge sends it: the name in ASCII, the value in UTF-8.
Header = tuple[bytes, bytes]


def _wire(value: str) -> bytes | None:
    """:func:`safe_value`, encoded (``None``: drop it)."""
    safe = safe_value(value)
    return None if safe is None else safe.encode()


def _groups_value(groups: tuple[str, ...]) -> str | None:
    kept = [g for g in groups if safe_value(g) is not None and "," not in g and g]
    return ",".join(kept) if kept else None


_FORWARDED = tuple(
    n.encode() for n in (FORWARDED_USER, FORWARDED_EMAIL, FORWARDED_GROUPS, FORWARDED_PREFERRED_USERNAME)
)
_AUTH_REQUEST = tuple(
    n.encode()
    for n in (AUTH_REQUEST_USER, AUTH_REQUEST_EMAIL, AUTH_REQUEST_GROUPS, AUTH_REQUEST_PREFERRED_USERNAME)
)


def _identity(session: Session, names: tuple[bytes, ...]) -> list[Header]:
    """User, email, groups and preferred username under ``names``; empty or unsafe values left out."""
    out = []
    if value := _wire(session.user):
        out.append((names[0], value))
    if value := _wire(session.email):
        out.append((names[1], value))
    if session.groups and (groups := _groups_value(session.groups)):
        out.append((names[2], groups.encode()))
    if session.preferred_username and (value := _wire(session.preferred_username)):
        out.append((names[3], value))
    return out


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


def _user_first(headers: list[Header], session: Session, user_header: bytes) -> None:
    """``prefer_email_to_user``: the email as the user header, first."""
    email = _wire(session.email)
    headers[:] = [(n, v) for n, v in headers if n != user_header]
    if email:
        headers.insert(0, (user_header, email))


def _bearer(token: str | None) -> bytes | None:
    value = _wire(token) if token else None
    return b"Bearer " + value if value else None


_FORWARDED_ACCESS_TOKEN = FORWARDED_ACCESS_TOKEN.encode()
_AUTH_REQUEST_ACCESS_TOKEN = AUTH_REQUEST_ACCESS_TOKEN.encode()


def upstream_headers(session: Session, o: HeaderOptions) -> list[Header]:
    """Every identity header the upstream receives, per the options (values already safe)."""
    out = _identity(session, _FORWARDED) if o.pass_user_headers else []
    if o.pass_user_headers and o.prefer_email_to_user:
        _user_first(out, session, _FORWARDED[0])
    if o.set_xauthrequest:
        out += _identity(session, _AUTH_REQUEST)
        if o.prefer_email_to_user:
            _user_first(out, session, _AUTH_REQUEST[0])
    # The tokens (a kilobyte or more) are checked only when an option sends them.
    token = _wire(session.access_token) if o.pass_access_token and session.access_token else None
    if token:
        out.append((_FORWARDED_ACCESS_TOKEN, token))
    bearer = _bearer(session.id_token) if o.pass_authorization_header else None
    if bearer:
        out.append((b"Authorization", bearer))
    return out


def auth_headers(session: Session, o: HeaderOptions) -> list[Header]:
    """What ``/oauth/auth`` answers on 202: ``X-Auth-Request-*``, and the tokens the options ask for."""
    out = _identity(session, _AUTH_REQUEST)
    if o.prefer_email_to_user:
        _user_first(out, session, _AUTH_REQUEST[0])
    wants_token = o.set_xauthrequest and o.pass_access_token
    token = _wire(session.access_token) if wants_token and session.access_token else None
    if token:
        out.append((_AUTH_REQUEST_ACCESS_TOKEN, token))
    bearer = _bearer(session.id_token) if o.set_authorization_header else None
    if bearer:
        out.append((b"Authorization", bearer))
    return out

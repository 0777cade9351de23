"""The one rule for an email address that idgate asserts: :func:`email_problem`.

Every connector passes the address it got (from GitHub, GitLab, Google, an OIDC provider, an LDAP entry,
a local account) through :func:`checked_email` before it becomes an :class:`~idgate.connectors.base.Identity`,
and so before it reaches an ID token, a session or an ``X-Forwarded-Email`` header. An address is usable
when it is exactly one mailbox as RFC 5321 writes it on the wire:

- exactly one ``@``, with a non-empty local part before it and a domain after it;
- no whitespace, control or format character anywhere (no CR/LF to split a header, no zero-width space
  to make ``admin@example.com`` and ``adm\u200bin@example.com`` look alike);
- a dot-atom local part (RFC 5322 ``atext``, UTF-8 allowed as RFC 6531 does): no quoted local part (a
  quoted one may hold an ``@``: ``"attacker@evil.com"@example.com``), no leading, trailing or double dot;
- a domain that is a host name, IDNA-encodable, each label 1-63 letters, digits or hyphens once encoded,
  not an address literal (``[192.0.2.1]``);
- the lengths of RFC 5321 §4.5.3.1: local part 64 octets, domain 255, the whole address 254.

An address that breaks the rule refuses the login (THREAT_MODEL.md: an upstream that sends
``attacker@evil.com@example.com`` with ``email_verified: true`` must not have idgate vouch for a domain it
does not own). Nothing here is about which domains are allowed: the proxy's ``email_domains`` decides that,
on an address this rule has already made unambiguous.
"""

from __future__ import annotations

import unicodedata

from idgate.connectors.errors import LoginRefused

__all__ = ["checked_email", "email_problem"]

MAX_LOCAL = 64
MAX_DOMAIN = 255
MAX_ADDRESS = 254
MAX_LABEL = 63
#: RFC 5322 ``atext`` besides letters and digits.
_ATEXT = frozenset("!#$%&'*+-/=?^_`{|}~")
_LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


def _local_problem(local: str) -> str | None:
    if not local:
        return "nothing before the @"
    if local.startswith('"'):
        return "a quoted local part"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "a dot at the start or end of the local part, or two in a row"
    for c in local:
        if not (c.isalnum() or c == "." or c in _ATEXT or ord(c) > 0x7F):
            return f"the character {c!r} in the local part"
    if len(local.encode()) > MAX_LOCAL:
        return f"a local part longer than {MAX_LOCAL} octets"
    return None


def _domain_problem(domain: str) -> str | None:
    if not domain:
        return "nothing after the @"
    if domain.startswith("["):
        return "an address literal instead of a domain"
    try:
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return "a domain that is not a valid internationalised domain name"
    labels = ascii_domain.split(".")
    for label in labels:
        if not label or len(label) > MAX_LABEL:
            return "an empty domain label, or one longer than 63 characters"
        if not set(label) <= _LDH or label.startswith("-") or label.endswith("-"):
            return "a domain label with characters other than letters, digits and inner hyphens"
    if len(ascii_domain) > MAX_DOMAIN:
        return f"a domain longer than {MAX_DOMAIN} characters"
    return None


def email_problem(value: str) -> str | None:
    """What makes ``value`` unusable as the one email address of a person, or ``None`` when it is usable."""
    if not value:
        return "an empty address"
    for c in value:
        if c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return "whitespace or a control character"
    ats = value.count("@")
    if ats != 1:
        return "no @" if ats == 0 else "more than one @"
    local, _, domain = value.partition("@")
    problem = _local_problem(local) or _domain_problem(domain)
    if problem is None and len(value.encode()) > MAX_ADDRESS:
        problem = f"an address longer than {MAX_ADDRESS} octets"
    return problem


def checked_email(value: str, source: str) -> str:
    """``value`` when :func:`email_problem` finds nothing; else :class:`LoginRefused` that names ``source``
    (the upstream) and the problem, never the address itself (it is the upstream's, possibly hostile)."""
    problem = email_problem(value)
    if problem is not None:
        raise LoginRefused(f"{source} sent an email address idgate cannot use ({problem})")
    return value

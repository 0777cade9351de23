"""Email criteria: ``email_verified`` (unless ``insecure_allow_unverified_email``) and ``email_domains``.

``email_domains`` follows OAuth2-Proxy: ``*`` lets any address in, otherwise the domain after the one
``@`` must equal a listed domain exactly (case-insensitive; ``evilexample.com`` is not ``example.com``),
and an empty list lets nobody in.
"""

from __future__ import annotations

from idgate.policy.criteria import Criterion
from idgate.policy.decision import Reason
from idgate.sessions.base import Session

_PASS: tuple[str, ...] = ()
_NOT_VERIFIED = (Reason.EMAIL_NOT_VERIFIED,)
_BAD_DOMAIN = (Reason.EMAIL_DOMAIN_NOT_ALLOWED,)


def email_verified(insecure_allow_unverified: bool) -> Criterion | None:
    """Refuse sessions whose provider did not verify the address; ``None`` when disabled."""
    if insecure_allow_unverified:
        return None

    def check(session: Session) -> tuple[str, ...]:
        return _PASS if session.email_verified else _NOT_VERIFIED

    return check


def email_domain(session_email: str) -> str | None:
    """The lower-cased domain of an address with exactly one ``@`` and text on both sides."""
    local, at, domain = session_email.partition("@")
    if not at or not local or not domain or "@" in domain:
        return None
    return domain.lower()


def email_domains(domains: tuple[str, ...], emails: tuple[str, ...] = ()) -> Criterion | None:
    """Refuse addresses outside ``domains`` unless listed in ``emails`` (``authenticated_emails_file``);
    ``None`` when ``*`` allows any domain."""
    if "*" in domains:
        return None
    allowed = frozenset(d.strip().lower() for d in domains if d.strip())
    listed = frozenset(e.strip().lower() for e in emails if e.strip())

    def check(session: Session) -> tuple[str, ...]:
        domain = email_domain(session.email)
        if domain is not None and domain in allowed:
            return _PASS
        return _PASS if listed and session.email.lower() in listed else _BAD_DOMAIN

    return check

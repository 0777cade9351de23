"""The edge's own HTML pages, in idgate's one design (:mod:`idgate.web`), escaped, with no external assets.

The layout is rendered once, for the first page (not at import: a process that shows no page never loads
Jinja2), and cut into pieces (:class:`idgate.web.Shell`); a page is a few string joins, so error paths stay
cheap. Pages name what went wrong without leaking anything the visitor did not send, and offer a way
forward:

======  =================================================================================================
403     who is signed in and, in a sentence, why they are refused; the policy's reason codes apart, in
        small print; "Sign in as someone else" (the proxy's ``/oauth/sign_out`` with ``rd`` back to the
        refused address, when :func:`~idgate.proxy.redirects.validate_redirect` accepts it) and "Sign
        out"; "Home" only when every reason is of a rule for some paths and the refused path is not
        ``/`` (else home would refuse them again)
404     a clear text, nothing else (an unknown host learns nothing about the others)
502-504 "Try again" (the same address)
======  =================================================================================================

Every page carries the request's id, the same as in its ``X-Request-Id`` header and in the access log.
"""

from __future__ import annotations

import html
from urllib.parse import quote, urlsplit

from idgate.policy.decision import Reason
from idgate.web import Look, Shell

__all__ = ["SIGN_OUT", "page"]

#: The proxy's sign-out endpoint (:mod:`idgate.proxy.web`): it clears the session, then goes to ``rd``.
SIGN_OUT = "/oauth/sign_out"

_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Access denied", "You are signed in, but this service does not let you in."),
    404: ("Not found", "There is no service at this address. Check the address and try again."),
    405: ("Method not allowed", "This method is not supported here."),
    408: ("Request timeout", "The request took too long to arrive."),
    413: ("Request too large", "The request body is larger than allowed."),
    414: ("Address too long", "The requested address is longer than allowed."),
    431: ("Headers too large", "The request headers are larger than allowed."),
    502: ("Bad gateway", "The service behind this address is not answering."),
    503: ("Service unavailable", "The service behind this address is not available."),
    504: ("Gateway timeout", "The service behind this address took too long to answer."),
}
_RETRY = frozenset({502, 503, 504})

#: What a refusal's reason means to the person refused (a reason without an entry is shown as its word).
_REASONS: dict[str, str] = {
    Reason.EMAIL_NOT_VERIFIED: "your email address is not verified by the identity provider",
    Reason.EMAIL_DOMAIN_NOT_ALLOWED: "your email domain is not allowed",
    Reason.GITHUB_ORG_NOT_ALLOWED: "you are not a member of the required GitHub organisation",
    Reason.GITHUB_TEAM_NOT_ALLOWED: "you are not a member of the required GitHub team",
    Reason.GROUP_NOT_ALLOWED: "you are not a member of an allowed group",
    Reason.EMAIL_NOT_ALLOWED: "your email address is not on the list of allowed addresses",
    Reason.WEBSOCKET_ORIGIN_NOT_ALLOWED: "the page that opened this connection is on another site",
}


def _explained(code: str) -> str:
    """What the reason ``code`` means to the person refused, escaped."""
    rule, _, base = code.rpartition(":")
    return html.escape(_REASONS.get(base, base) + (f" for this address ({rule})" if rule else ""))


_REASONS_HTML: dict[str, tuple[str, str]] = {}
_REASONS_HTML_MAX = 256


def _reasons(reasons: str) -> tuple[str, str]:
    """For a comma-joined list of reason codes: the end of the sentence that says why (``": ...</p>"``,
    a list for several) and the codes apart, in small print (remembered: a policy has few)."""
    found = _REASONS_HTML.get(reasons)
    if found is not None:
        return found
    codes = [c for c in reasons.split(",") if c]
    if not codes:
        found = (".</p>", "")
    else:
        if len(codes) == 1:
            why = f": {_explained(codes[0])}.</p>"
        else:
            why = ":</p><ul>" + "".join(f"<li>{_explained(c)}</li>" for c in codes) + "</ul>"
        label = "Reason" if len(codes) == 1 else "Reasons"
        listed = ", ".join(f"<code>{html.escape(c)}</code>" for c in codes)
        found = (why, f'<p class="small reason">{label}: {listed}</p>')
    if len(_REASONS_HTML) < _REASONS_HTML_MAX:
        _REASONS_HTML[reasons] = found
    return found


def _home_helps(reasons: str, rd: str | None) -> bool:
    """Whether "Home" may let the person in: every reason is of a rule for some paths (``rule:code``)
    and the refused address is not home itself."""
    codes = [c for c in reasons.split(",") if c]
    return (
        bool(codes) and all(":" in c for c in codes) and rd is not None and urlsplit(rd).path not in ("", "/")
    )


def _actions(status: int, rd: str | None, home: bool = False) -> str:
    if status == 403:
        out = SIGN_OUT + ("?rd=" + quote(rd, safe="/") if rd else "")
        return (
            f'<div class="actions"><a class="button" href="{html.escape(out)}">Sign in as someone else</a>'
            f'<a class="button secondary" href="{SIGN_OUT}">Sign out</a>'
            + ('<a class="button secondary" href="/">Home</a>' if home else "")
            + "</div>"
        )
    if status in _RETRY:
        return '<div class="actions"><a class="button" href="">Try again</a></div>'
    return ""


def _top(status: int) -> tuple[str, str]:
    """The page's title and the start of its content: the status, the heading and what it means."""
    title, text = _TEXTS.get(status, ("Error", "Something went wrong."))
    top = f'<p class="eyebrow">Error {status}</p><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>'
    return f"{status} {html.escape(title)}", top


class _Layout:
    """The layout in pieces (page = a + title + b + content + c + footer + end), and everything but the
    footer of the pages that carry nothing of the request (all but 403)."""

    a: str
    b: str
    c: str
    end: bytes
    fixed: dict[int, bytes]

    def __init__(self, shell: Shell) -> None:
        self.a, self.b, self.c, d = shell.parts
        self.end = d.encode()
        self.fixed = {
            status: (self.a + title + self.b + top + _actions(status, None) + self.c).encode()
            for status in _TEXTS
            if status != 403
            for title, top in [_top(status)]
        }


_LAYOUT: list[_Layout] = []  # made by the first page


def _layout() -> _Layout:
    if not _LAYOUT:
        _LAYOUT.append(_Layout(Shell.of(Look())))
    return _LAYOUT[0]


def page(
    status: int,
    *,
    detail: str = "",
    request_id: str = "",
    reasons: str = "",
    rd: str | None = None,
    who: str = "",
) -> bytes:
    """The HTML page for ``status``.

    ``reasons`` is a comma-joined list of policy reason codes; ``rd`` (403 only) the refused address,
    already accepted by the redirect validator, for the "Sign in as someone else" link; ``who`` (403
    only) the email of the person signed in.
    """
    layout = _layout()
    footer = f"Request id <code>{html.escape(request_id)}</code>".encode() if request_id else b""
    fixed = layout.fixed.get(status)
    if fixed is not None and not detail and not reasons:
        return fixed + footer + layout.end
    if status == 403:
        title, body = "403 Access denied", _refused(reasons, rd, who, detail)
    else:
        title, body = _top(status)
        if detail:
            body += f"<p>{html.escape(detail)}</p>"
        body += _actions(status, rd)
    return (layout.a + title + layout.b + body + layout.c).encode() + footer + layout.end


def _refused(reasons: str, rd: str | None, who: str, detail: str) -> str:
    """The content of a 403: who is signed in and why they are refused, the codes apart, the ways on."""
    why, codes = _reasons(reasons)
    lead = (
        f"You are signed in as <strong>{html.escape(who)}</strong>, but this service does not let you in"
        if who
        else "You are signed in, but this service does not let you in"
    )
    body = f'<p class="eyebrow">Error 403</p><h1>Access denied</h1><p>{lead}{why}'
    if detail:
        body += f"<p>{html.escape(detail)}</p>"
    return body + codes + _actions(403, rd, _home_helps(reasons, rd))

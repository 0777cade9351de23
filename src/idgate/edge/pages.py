"""The edge's own HTML pages: small, self-contained (inline CSS, no external assets), escaped.

Error pages name what went wrong without leaking anything the visitor did not send: the 403 page names
the policy's reason, and every error page the edge makes carries the request's id, the same as in its
``X-Request-Id`` header and in the access log.
"""

from __future__ import annotations

import html

_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f6f7f9;color:#1f2328;margin:0}"
    "main{max-width:34rem;margin:12vh auto;padding:2rem;background:#fff;border-radius:8px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}h1{font-size:1.4rem;margin:0 0 1rem}"
    "p{line-height:1.5}code{background:#eef0f3;padding:.1rem .3rem;border-radius:4px}"
    ".muted{color:#656d76;font-size:.9rem}"
)

_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Access denied", "You are signed in, but this service does not let you in."),
    404: ("Not found", "There is no service at this address."),
    405: ("Method not allowed", "This method is not supported here."),
    408: ("Request timeout", "The request took too long to arrive."),
    413: ("Request too large", "The request body is larger than allowed."),
    414: ("Address too long", "The requested address is longer than allowed."),
    431: ("Headers too large", "The request headers are larger than allowed."),
    502: ("Bad gateway", "The service behind this address is not answering."),
    503: ("Service unavailable", "The service behind this address is not available."),
    504: ("Gateway timeout", "The service behind this address took too long to answer."),
}

_REASONS: dict[str, str] = {
    "email_not_verified": "your email address is not verified by the identity provider",
    "email_domain_not_allowed": "your email domain is not allowed",
    "github_org_not_allowed": "you are not a member of the required GitHub organisation",
    "github_team_not_allowed": "you are not a member of the required GitHub team",
    "not_in_allowed_groups": "you are not a member of an allowed group",
    "email_not_allowed": "your email address is not on the list of allowed addresses",
}


def page(status: int, *, detail: str = "", request_id: str = "", reasons: str = "") -> bytes:
    """An HTML page for ``status``; ``reasons`` is a comma-joined list of policy reason codes."""
    title, text = _TEXTS.get(status, ("Error", "Something went wrong."))
    body = [f"<h1>{status} — {html.escape(title)}</h1>", f"<p>{html.escape(text)}</p>"]
    if detail:
        body.append(f"<p>{html.escape(detail)}</p>")
    for code in filter(None, reasons.split(",")):
        rule, _, base = code.rpartition(":")
        explained = _REASONS.get(base, base) + (f" for this address ({rule})" if rule else "")
        body.append(f"<p>Reason: {html.escape(explained)} (<code>{html.escape(code)}</code>).</p>")
    if request_id:
        body.append(f'<p class="muted">Request id: <code>{html.escape(request_id)}</code></p>')
    doc = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{status} {html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>"
    )
    return doc.encode()

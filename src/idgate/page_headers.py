"""The security headers every HTML page of idgate carries (provider, proxy sign-in app, edge errors).

Pages run no script and load nothing from elsewhere, so the Content-Security-Policy allows no script at
all. Their styles are one inline ``<style>`` block: ``style-src 'unsafe-inline'`` is chosen over hashes
because every value on a page is escaped (Jinja2 autoescape, ``html.escape`` at the edge), CSS cannot
run script in any supported browser, and a hash list would break on every template edit. Images:
``data:`` (the provider, a logo read from a file) and, on the proxy's sign-in page only, ``https:`` for
an operator-configured ``custom_sign_in_logo`` URL. No ``form-action``: after a login POST the browser
is redirected to the client, which ``form-action`` would block in Chromium.
"""

from __future__ import annotations

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src {img}; frame-ancestors 'none'; base-uri 'none'"

PAGE_HEADERS: dict[str, str] = {
    "Content-Security-Policy": _CSP.format(img="data:"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

#: The proxy's sign-in page may show a logo from an https URL.
SIGN_IN_HEADERS: dict[str, str] = {
    **PAGE_HEADERS,
    "Content-Security-Policy": _CSP.format(img="data: https:"),
}

#: For the edge, which writes raw bytes.
PAGE_HEADERS_B: tuple[tuple[bytes, bytes], ...] = tuple(
    (k.encode("ascii"), v.encode("ascii")) for k, v in PAGE_HEADERS.items() if k != "Cache-Control"
)

"""The security headers every HTML page of idgate carries (provider, proxy sign-in app, edge errors).

Pages run no script and load nothing from elsewhere, so the Content-Security-Policy allows no script at
all. Their styles are one inline ``<style>`` block: ``style-src 'unsafe-inline'`` is chosen over hashes
because every value on a page is escaped (Jinja2 autoescape, ``html.escape`` at the edge), CSS cannot
run script in any supported browser, and a hash list would break on every template edit. Images:
``data:`` (idgate's logo and icon, a logo read from a file) and, on the proxy's sign-in page only,
``https:`` for an operator-configured ``custom_sign_in_logo`` URL. The provider's pages also load their
theme (``{issuer path}/theme/``: logo, favicon, ``styles.css``, fonts) from ``'self'``, and the origin of
an absolute ``dex.frontend.logoURL`` (:func:`page_headers`). No ``form-action``: after a login POST the
browser is redirected to the client, which ``form-action`` would block in Chromium.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the edge imports this module too, and never aiohttp
    from aiohttp import web


def page_headers(*, img: str = "data:", style: str = "'unsafe-inline'", font: str = "") -> dict[str, str]:
    """The page headers with a CSP that allows images from ``img``, styles from ``style`` and fonts from
    ``font`` (none when empty): never a script, never in a frame, no ``<base>``."""
    csp = f"default-src 'none'; style-src {style}; img-src {img}; "
    if font:
        csp += f"font-src {font}; "
    return {
        "Content-Security-Policy": csp + "frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


PAGE_HEADERS: dict[str, str] = page_headers()

#: The proxy's sign-in page may show a logo from an https URL.
SIGN_IN_HEADERS: dict[str, str] = page_headers(img="data: https:")

#: For the edge, which writes raw bytes.
PAGE_HEADERS_B: tuple[tuple[bytes, bytes], ...] = tuple(
    (k.encode("ascii"), v.encode("ascii")) for k, v in PAGE_HEADERS.items() if k != "Cache-Control"
)


#: ``Server`` on the provider's and the sign-in app's answers. aiohttp's default names Python's version and
#: its own, which tells a scanner what to try; the edge's own answers carry no ``Server`` at all.
SERVER = "idgate"


def hide_server_software(app: web.Application) -> None:
    """Answer with ``Server: idgate`` instead of aiohttp's ``Python/3.x aiohttp/3.x`` (it only fills in
    ``Server`` when the answer has none, after ``on_response_prepare`` has run)."""

    async def name(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Server"] = SERVER

    app.on_response_prepare.append(name)

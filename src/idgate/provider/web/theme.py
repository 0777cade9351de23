"""The provider's look: its theme files (:mod:`idgate.web.theme`) and what its pages show around them.

``GET {path}/theme/<file>`` serves the merged theme, as Dex serves ``theme/``: only the theme's own file
names (a name is one path segment and must be a key of the theme, so no path leads elsewhere), each with
its ``Content-Type``, ``nosniff``, a long cache (page links carry ``?v=<hash>``), and a CSP that keeps an
SVG opened on its own from running anything.

The pages (:class:`~idgate.web.Look`) show

- ``dex.frontend.issuer`` as the display name, only when it is set (Dex shows ``dex`` when it is not;
  idgate then shows no name rather than that default);
- ``dex.frontend.logoURL``: relative (the chart's ``theme/logo.svg``) to the issuer path, as Dex resolves
  it; an absolute path, a ``data:`` URL or an http(s) URL as it is (its origin is allowed by the CSP);
  unset: the theme's ``logo.svg``;
- the theme's ``favicon.png``, and its ``styles.css`` after idgate's stylesheet when the operator gave one;
- ``dex.frontend.theme`` ``light`` or ``dark`` as a forced colour scheme; any other name (or none) follows
  the browser. The name also picks the directory under ``<dex.frontend.dir>/themes/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from idgate.settings import ProviderSettings
from idgate.web import Look
from idgate.web.page_headers import page_headers
from idgate.web.theme import Theme, load_theme

__all__ = ["THEME", "ProviderLook", "look_of", "provider_look", "theme_file"]

CACHE = "public, max-age=604800"
_ORIGIN_HOST = re.compile(r"[A-Za-z0-9.-]+(?::[0-9]{1,5})?")
_FILE_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; sandbox"
)


@dataclass(frozen=True, slots=True)
class ProviderLook:
    """The provider's merged theme and the :class:`Look` of its pages, built once at start-up."""

    theme: Theme
    look: Look = field(default_factory=Look)


THEME = web.AppKey("theme", ProviderLook)


def _logo(settings: ProviderSettings, theme: Theme, base: str) -> tuple[str, str]:
    """The logo's URL and the origin the CSP must allow for it (``""``: none beyond ``'self' data:``)."""
    value = settings.logo_url.strip() or "theme/logo.svg"
    if value.startswith("theme/"):
        # The chart writes theme/logo.svg, Dex's own default is theme/logo.png: a file that the theme
        # does not have falls back to its logo.svg rather than a broken image.
        name = value.removeprefix("theme/")
        return theme.url(base, name if name in theme.files else "logo.svg"), ""
    if value.startswith(("https://", "http://")):
        parts = urlsplit(value)
        allowed = _ORIGIN_HOST.fullmatch(parts.netloc) is not None  # nothing that could end the directive
        return value, f"{parts.scheme}://{parts.netloc}" if allowed else ""
    if value.startswith(("/", "data:")):
        return value, ""
    return f"{settings.path}/{value}", ""


def provider_look(settings: ProviderSettings, theme: Theme | None = None) -> ProviderLook:
    """The look of the provider's pages; ``theme`` defaults to the one the settings describe."""
    if theme is None:
        theme = load_theme(settings.theme_files, settings.web_dir, settings.theme_name)
    base = f"{settings.path}/theme"
    logo, origin = _logo(settings, theme, base)
    look = Look(
        name=settings.display_name,
        logo=logo,
        favicon=theme.url(base, "favicon.png"),
        stylesheet=theme.url(base, "styles.css") if theme.custom_css else "",
        scheme=settings.theme_name if settings.theme_name in ("light", "dark") else "",
        headers=page_headers(
            img=" ".join(filter(None, ("'self' data:", origin))),
            style="'self' 'unsafe-inline'",
            font="'self' data:",
        ),
    )
    return ProviderLook(theme, look)


def look_of(app: web.Application) -> Look:
    """The look of ``app``'s pages (idgate's own when the app was built without a theme)."""
    found = app.get(THEME)
    return found.look if found is not None else _PLAIN


_PLAIN = Look()


async def theme_file(request: web.Request) -> web.StreamResponse:
    """``GET {path}/theme/{name}``: a file of the theme, or 404."""
    found = request.app[THEME].theme.files.get(request.match_info["name"])
    if found is None:
        return web.Response(status=404, text="not found", headers={"Cache-Control": "no-store"})
    etag = f'"{found.version}"'
    headers = {
        "Content-Type": found.content_type,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": CACHE,
        "ETag": etag,
        "Content-Security-Policy": _FILE_CSP,
    }
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    return web.Response(body=found.body, headers=headers)

"""The look of every HTML page idgate shows, in one place: the provider's pages, the proxy's sign-in and
error pages, and the edge's own error pages.

::

    style.css ──▶ CSS (inlined in every page: the CSP allows inline styles, and no page loads a stylesheet
                  from elsewhere; only the provider may add its theme's ``styles.css`` after it)
    templates/layout.html ──▶ environment(dir): the Jinja2 loader of a role; its templates
                              ``{% extends "layout.html" %}`` and fill ``title``, ``content``, ``footer``
                         └──▶ Shell: the same layout rendered once, cut where the blocks go, for the edge,
                              which writes bytes and must stay cheap on its error paths
    theme/ ──▶ idgate's built-in theme files (logo.svg, favicon.png, styles.css), see :mod:`.theme`

What varies around a page's content (display name, logo, favicon, a theme stylesheet, a forced colour
scheme, the security headers that allow them) is a :class:`Look`, passed as ``ui``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from idgate.web.page_headers import PAGE_HEADERS

if TYPE_CHECKING:
    import jinja2

__all__ = ["CSS", "ICON", "LOGO", "Look", "Shell", "environment", "page_title"]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
BUILTIN_THEME = HERE / "theme"


def _minify(css: str) -> str:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    return re.sub(r"\s*([{};:,>])\s*", r"\1", css).replace(";}", "}").strip()


#: The stylesheet of every page, comments and spaces removed.
CSS = _minify((HERE / "style.css").read_text(encoding="utf-8"))
#: idgate's built-in logo (``theme/logo.svg``) as a ``data:`` URL: the proxy's sign-in page shows it
#: unless ``custom_sign_in_logo`` says otherwise, and every page without a theme uses it as its icon.
LOGO = "data:image/svg+xml;base64," + base64.b64encode((BUILTIN_THEME / "logo.svg").read_bytes()).decode()
ICON = LOGO


@dataclass(frozen=True, slots=True)
class Look:
    """What surrounds a page's content.

    ``name`` is the display name (after the title, beside the logo; empty: not shown), ``logo`` and
    ``favicon`` URLs (empty: none), ``stylesheet`` a theme stylesheet linked after idgate's own,
    ``scheme`` ``"light"`` or ``"dark"`` to force one (empty: follow the browser), ``headers`` the page
    security headers whose CSP allows exactly these.
    """

    name: str = ""
    logo: str = ""
    favicon: str = ICON
    stylesheet: str = ""
    scheme: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: dict(PAGE_HEADERS))


def environment(templates: Path) -> jinja2.Environment:
    """A role's Jinja2 environment: its own ``templates`` first, then ``layout.html``; autoescaped."""
    import jinja2  # here, not at the top: the config loader imports idgate.web.theme and needs no templates

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates), jinja2.FileSystemLoader(TEMPLATES)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    env.globals["css"] = Markup(CSS)  # noqa: S704 - idgate's own stylesheet, not input
    env.filters["page_title"] = page_title
    return env


def page_title(text: str, name: str) -> Markup:
    """``"Log in"`` -> ``"Log in · <name>"`` (no name: as it is). A title that already ends in the name,
    or in an empty ``" · "`` (a template written as ``Log in · {{ display_name }}``), is not doubled."""
    escaped = Markup.escape(name)
    parts = [p.strip() for p in str(text).split("·")]
    kept = [p for p in parts if p and p != escaped]
    if name:
        kept.append(str(escaped))
    return Markup(" · ".join(kept))  # noqa: S704 - parts of escaped markup, and the name escaped


_CUT = "\x00"
_SKELETON = (
    '{% extends "layout.html" %}{% block title %}\x00{% endblock %}'
    "{% block content %}\x00{% endblock %}{% block footer %}\x00{% endblock %}"
)


@dataclass(frozen=True, slots=True)
class Shell:
    """``layout.html`` rendered once for ``look``, cut where the title, the content and the footer go."""

    parts: tuple[str, str, str, str]

    @classmethod
    def of(cls, look: Look) -> Shell:
        env = environment(TEMPLATES)
        text = env.from_string(_SKELETON).render(ui=look)
        a, b, c, d = text.split(_CUT)
        return cls((a, b, c, d))

    def render(self, title: str, content: str, footer: str = "") -> str:
        """The page; every argument is HTML already (escape what came from elsewhere)."""
        a, b, c, d = self.parts
        return f"{a}{title}{b}{content}{c}{footer}{d}"

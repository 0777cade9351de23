"""The one design (:mod:`idgate.web`): a layout every role renders, the same stylesheet, accessible basics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import idgate.provider.web
import idgate.proxy
from idgate.web import CSS, ICON, LOGO, Look, Shell, environment, page_title
from idgate.web.theme import BUILTIN

PROVIDER = Path(idgate.provider.web.__file__).parent / "templates"
PROXY = Path(idgate.proxy.__file__).parent / "templates"


def _hex_pairs(css: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):(#[0-9a-f]{6})", css))


def _contrast(a: str, b: str) -> float:
    def lum(h: str) -> float:
        c = [int(h[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_keep_a_contrast_of_4_5_to_1_and_controls_3_to_1(scheme: str) -> None:
    light, dark = CSS.split("@media (prefers-color-scheme:dark)")[:2]
    colours = _hex_pairs(light if scheme == "light" else dark)
    for text, background in [
        ("fg", "card"), ("fg", "bg"), ("muted", "card"), ("muted", "bg"), ("muted", "soft"),
        ("link", "card"), ("accent-fg", "accent"), ("accent-fg", "accent-hover"), ("error-fg", "error-bg"),
        ("fg", "code"), ("fg", "soft"),
    ]:  # fmt: skip
        assert _contrast(colours[text], colours[background]) >= 4.5, (scheme, text, background)
    for control in ("field", "focus"):
        assert _contrast(colours[control], colours["card"]) >= 3, (scheme, control)


def test_the_stylesheet_is_responsive_has_a_focus_ring_and_loads_nothing() -> None:
    assert ":focus-visible{outline:3px solid var(--focus)" in CSS
    assert "@media (max-width:30rem)" in CSS and "max-width:26rem" in CSS
    assert "url(" not in CSS and "@import" not in CSS and "/*" not in CSS


def test_the_shell_is_the_layout_cut_where_title_content_and_footer_go() -> None:
    shell = Shell.of(Look())
    page = shell.render("403 Access denied", "<h1>Access denied</h1>", "Request id <code>r</code>")
    assert page.startswith('<!doctype html>\n<html lang="en">')
    assert "<title>403 Access denied</title>" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert f'<link rel="icon" href="{ICON}">' in page and f"<style>{CSS}</style>" in page
    assert '<footer class="foot">Request id <code>r</code></footer>' in page
    assert "<script" not in page and 'class="brand"' not in page  # no name, no logo: no brand line


def test_a_look_adds_its_name_logo_stylesheet_and_scheme_escaped() -> None:
    look = Look(
        name="ACME <SSO>",
        logo="/dex/theme/logo.svg?v=1",
        stylesheet="/dex/theme/styles.css?v=2",
        scheme="dark",
    )
    page = (
        environment(PROVIDER)
        .get_template("logged_out.html")
        .render(ui=look, display_name=look.name, back=None)
    )
    assert '<html lang="en" data-theme="dark">' in page
    assert "<title>Logged out · ACME &lt;SSO&gt;</title>" in page
    assert '<img class="theme-navbar__logo" src="/dex/theme/logo.svg?v=1" alt="">' in page
    assert "<span>ACME &lt;SSO&gt;</span>" in page
    assert page.index(f"<style>{CSS}</style>") < page.index(
        '<link rel="stylesheet" href="/dex/theme/styles.css?v=2">'
    )


@pytest.mark.parametrize(
    ("text", "name", "title"),
    [
        ("Log in", "", "Log in"),
        ("Log in", "ACME", "Log in · ACME"),
        ("Verification code · ", "", "Verification code"),  # a template that appends the name itself
        ("Verification code · ACME", "ACME", "Verification code · ACME"),
        ("Log in", "A&B", "Log in · A&amp;B"),
    ],
)
def test_page_titles_name_the_display_name_once(text: str, name: str, title: str) -> None:
    assert page_title(text, name) == title


def _templates() -> list[tuple[Path, str]]:
    return [(d, p.name) for d in (PROVIDER, PROXY) for p in sorted(d.glob("*.html")) if p.name != "base.html"]


@pytest.mark.parametrize(
    ("folder", "name"), _templates(), ids=lambda v: v if isinstance(v, str) else v.parent.name
)
def test_every_template_uses_the_layout_and_labels_every_input(folder: Path, name: str) -> None:
    source = (folder / name).read_text()
    assert '{% extends "base.html" %}' in source or '{% extends "layout.html" %}' in source
    assert "<script" not in source and "style=" not in source and "<style" not in source
    for field in re.findall(r'<input[^>]*\bid="([^"]+)"', source):
        assert f'<label for="{field}"' in source, (name, field)
    assert len(re.findall(r"<h1\b", source)) == 1 and "<h2" not in source


def test_the_builtin_theme_has_a_logo_an_icon_and_an_empty_stylesheet() -> None:
    assert (BUILTIN / "logo.svg").read_bytes().startswith(b"<svg")
    assert (BUILTIN / "favicon.png").read_bytes().startswith(b"\x89PNG")
    assert LOGO.startswith("data:image/svg+xml;base64,")
    css = (BUILTIN / "styles.css").read_text()
    assert re.sub(r"/\*.*?\*/", "", css, flags=re.S).strip() == ""

"""The provider's look: its theme files under ``{path}/theme/``, and what its pages show (name, logo, favicon,
the operator's ``styles.css``, a forced colour scheme), with the CSP that allows exactly that."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from tests.unit.provider.support import SETTINGS, auth_params

from idgate.clock import FrozenClock
from idgate.provider.web.app import build_provider_app
from idgate.storage import open_storage
from idgate.web import CSS
from idgate.web.theme import BUILTIN

Client = TestClient  # type: ignore[type-arg]
SVG = b"<svg xmlns='http://www.w3.org/2000/svg'><circle r='4'/></svg>"


@asynccontextmanager
async def provider(**changes: Any) -> AsyncIterator[Any]:
    storage = await open_storage("sqlite:///:memory:")
    app = build_provider_app(dataclasses.replace(SETTINGS, **changes), storage, FrozenClock())
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        await storage.close()


async def login_page(client: Any) -> tuple[str, dict[str, str]]:
    resp = await client.get("/dex/auth", params=auth_params())
    assert resp.status == 200, await resp.text()
    return await resp.text(), dict(resp.headers)


async def test_builtin_files_are_served_with_their_type_nosniff_and_a_long_cache() -> None:
    async with provider() as client:
        for name, kind in (
            ("logo.svg", "image/svg+xml"),
            ("favicon.png", "image/png"),
            ("styles.css", "text/css"),
        ):
            resp = await client.get(f"/dex/theme/{name}")
            assert resp.status == 200, name
            assert resp.headers["Content-Type"].startswith(kind)
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Cache-Control"] == "public, max-age=604800"
            assert "sandbox" in resp.headers["Content-Security-Policy"]  # an SVG opened alone runs nothing
            assert await resp.read() == (BUILTIN / name).read_bytes()
        etag = (await client.get("/dex/theme/logo.svg")).headers["ETag"]
        assert (await client.get("/dex/theme/logo.svg", headers={"If-None-Match": etag})).status == 304


@pytest.mark.parametrize(
    "path",
    [
        "/dex/theme/unknown.svg",
        "/dex/theme/",
        "/dex/theme/..%2F..%2Fetc%2Fpasswd",
        "/dex/theme/%2e%2e%2fkeys",
        "/dex/theme/.hidden.css",
        "/dex/theme/logo.svg/x",
        "/dex/theme/LOGO.SVG",
    ],
)
async def test_only_the_themes_own_file_names_are_served(path: str) -> None:
    async with provider() as client:
        resp = await client.get(path)
        assert resp.status == 404, path


async def test_the_login_page_shows_the_theme_logo_favicon_and_no_name_by_default() -> None:
    async with provider() as client:
        page, headers = await login_page(client)
    assert re.search(r'<link rel="icon" href="/dex/theme/favicon\.png\?v=[0-9a-f]{12}">', page)
    assert re.search(
        r'<img class="theme-navbar__logo" src="/dex/theme/logo\.svg\?v=[0-9a-f]{12}" alt="">', page
    )
    assert "<title>Log in</title>" in page and "<span>" not in page and ">dex<" not in page
    assert 'rel="stylesheet"' not in page  # no operator styles.css: nothing more to load
    csp = headers["Content-Security-Policy"]
    assert "img-src 'self' data:;" in csp and "style-src 'self' 'unsafe-inline'" in csp
    assert "script-src" not in csp and "default-src 'none'" in csp


async def test_dex_theme_files_replace_the_builtin_ones_and_styles_css_comes_after_idgates() -> None:
    theme = (("logo.svg", SVG), ("styles.css", b".theme-body{background:url(bg.svg)}"), ("bg.svg", SVG))
    async with provider(display_name="ACME SSO", theme_files=theme) as client:
        assert await (await client.get("/dex/theme/logo.svg")).read() == SVG
        assert (await client.get("/dex/theme/bg.svg")).headers["Content-Type"] == "image/svg+xml"
        css = await client.get("/dex/theme/styles.css")
        assert css.headers["Content-Type"] == "text/css; charset=utf-8"
        page, _ = await login_page(client)
    link = re.search(r'<link rel="stylesheet" href="(/dex/theme/styles\.css\?v=[0-9a-f]{12})">', page)
    assert link and page.index(f"<style>{CSS}</style>") < link.start()
    assert "<title>Log in · ACME SSO</title>" in page and "<span>ACME SSO</span>" in page


async def test_a_dex_web_dir_theme_is_read_and_dex_theme_wins_over_it(tmp_path: Path) -> None:
    folder = tmp_path / "themes" / "kkp"
    folder.mkdir(parents=True)
    (folder / "logo.svg").write_bytes(b"<svg>dir</svg>")
    (folder / "favicon.png").write_bytes(b"\x89PNG dir")
    (folder / "notes.txt").write_text("not a theme file")
    async with provider(web_dir=str(tmp_path), theme_name="kkp", theme_files=(("logo.svg", SVG),)) as client:
        assert await (await client.get("/dex/theme/logo.svg")).read() == SVG
        assert await (await client.get("/dex/theme/favicon.png")).read() == b"\x89PNG dir"
        assert (await client.get("/dex/theme/notes.txt")).status == 404
        page, _ = await login_page(client)
    assert '<html lang="en">' in page  # a theme name other than light/dark follows the browser


async def test_a_missing_web_dir_is_logged_and_the_builtin_theme_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with provider(web_dir=str(tmp_path / "nowhere")) as client:
        assert await (await client.get("/dex/theme/logo.svg")).read() == (BUILTIN / "logo.svg").read_bytes()
    assert "dex.frontend.dir" in caplog.text


@pytest.mark.parametrize(
    ("logo_url", "src", "img_src"),
    [
        ("theme/logo.svg", r"/dex/theme/logo\.svg\?v=\w+", "'self' data:"),
        ("theme/logo.png", r"/dex/theme/logo\.svg\?v=\w+", "'self' data:"),  # Dex's default; not in the theme
        (
            "https://cdn.example.com:8443/acme.svg",
            r"https://cdn\.example\.com:8443/acme\.svg",
            "'self' data: https://cdn.example.com:8443",
        ),
        ("https://x.example; script-src *", r"https://x\.example; script-src \*", "'self' data:"),
        ("/static/acme.svg", r"/static/acme\.svg", "'self' data:"),
        ("img/acme.svg", r"/dex/img/acme\.svg", "'self' data:"),
    ],
)
async def test_logo_url_resolves_as_dex_does_and_the_csp_allows_just_it(
    logo_url: str, src: str, img_src: str
) -> None:
    async with provider(logo_url=logo_url) as client:
        page, headers = await login_page(client)
    assert re.search(f'<img class="theme-navbar__logo" src="{src}"', page), page
    assert f"img-src {img_src};" in headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("theme", "attribute"), [("dark", ' data-theme="dark"'), ("light", ' data-theme="light"'), ("", "")]
)
async def test_theme_light_or_dark_forces_that_colour_scheme(theme: str, attribute: str) -> None:
    async with provider(theme_name=theme) as client:
        page, _ = await login_page(client)
    assert f'<html lang="en"{attribute}>' in page


async def test_an_error_page_shows_the_request_id_and_links_back_only_to_a_registered_address() -> None:
    async with provider(display_name="ACME") as client:
        bad = await client.get(
            "/dex/auth",
            params=auth_params(redirect_uri="https://evil.example/cb"),
            headers={"X-Request-Id": "edge-rid-1"},
            allow_redirects=False,
        )
        page = await bad.text()
        assert bad.status == 400 and "redirect_uri is not registered" in page
        assert 'href="https://prometheus.kkp.example.com/">Back to Prometheus</a>' in page
        # the URI that arrived is named, as text, for the operator; it is never a link
        assert "for this client: &#39;https://evil.example/cb&#39;</p>" in page
        assert page.count("evil.example") == 1
        assert "Request id <code>edge-rid-1</code>" in page and "<title>Sign-in failed · ACME</title>" in page
        unknown = await client.get("/dex/auth", params=auth_params(client_id="nobody"), allow_redirects=False)
        page = await unknown.text()
        assert "Back to" not in page and "Go back to the application you came from" in page
        assert "'self'" in unknown.headers["Content-Security-Policy"]  # the theme's look on error pages too

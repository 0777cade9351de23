"""The embedded demo's protected app (``idgate serve`` without ``--config``, :mod:`idgate.cli.demo`): a page
that shows what an upstream receives from the proxy, served by the worker on ``Settings.demo_upstream``."""

from __future__ import annotations

import html

from aiohttp import web

__all__ = ["upstream_app"]

IDENTITY_HEADERS = (
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>idgate demo upstream</title>
<style>
body{{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}
h1{{font-size:1.4rem}} table{{border-collapse:collapse;width:100%}}
td,th{{text-align:left;border-bottom:1px solid #d0d7de;padding:.35rem .5rem;vertical-align:top}}
code{{background:#f3f4f6;padding:.1rem .3rem;border-radius:4px;word-break:break-all}}
a{{color:#0b5cad}}
</style></head><body>
<h1>You are through: this is the protected app</h1>
<p>idgate checked your session and forwarded <code>{method} {target}</code> with these identity headers:</p>
<table><tr><th>Header</th><th>Value</th></tr>{rows}</table>
<p><a href="/oauth/sign_out">Sign out</a></p>
</body></html>
"""


async def _show(request: web.Request) -> web.StreamResponse:
    seen = {name: request.headers.get(name) for name in IDENTITY_HEADERS}
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
            }
        )
    rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v or '(none)')}</td></tr>"
        for k, v in seen.items()
    )
    body = PAGE.format(method=html.escape(request.method), target=html.escape(request.raw_path), rows=rows)
    return web.Response(text=body, content_type="text/html")


def upstream_app() -> web.Application:
    """The demo's protected app: shows what it receives (HTML, or JSON for ``Accept: application/json``)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _show)
    return app

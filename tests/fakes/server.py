"""Run a fake's aiohttp app on a free loopback port, over http or https."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def serve(app: web.Application, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve ``app`` on ``127.0.0.1:<free port>``; yields its origin (``http://127.0.0.1:PORT``)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def dribble(
    request: web.Request,
    body: bytes,
    *,
    pieces: int = 8,
    pause: float = 0.02,
    chunked: bool = False,
    status: int = 200,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Answer ``body`` in ``pieces`` writes with ``pause`` seconds between them, as a slow or distant
    server does: with a ``Content-Length``, or ``chunked`` (each piece its own chunk)."""
    resp = web.StreamResponse(status=status, headers={"Content-Type": content_type, **(headers or {})})
    if chunked:
        resp.enable_chunked_encoding()
    else:
        resp.content_length = len(body)
    await resp.prepare(request)
    step = -(-len(body) // pieces) or 1
    for start in range(0, len(body), step):
        await resp.write(body[start : start + step])
        await asyncio.sleep(pause)
    await resp.write_eof()
    return resp

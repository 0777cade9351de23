"""The embedded demo: ``idgate serve`` with no config shows the whole flow on one machine.

- provider at ``http://localhost:<port>/dex`` with one user, ``admin@example.com``;
- deployment ``demo`` at ``http://demo.localhost:<port>`` in front of :func:`upstream_app`, a page that
  shows what a protected app receives (the identity headers, path and query).

The admin password is ``$IDGATE_ADMIN_PASSWORD`` or, on first start, a generated one printed once; only its
bcrypt hash is kept, in the data directory. The client secret and the cookie key are generated on first
start and kept there too (mode 0600), so sessions survive a restart.
"""

from __future__ import annotations

import html
import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import bcrypt
from aiohttp import web

from idgate.cli import new_secret
from idgate.settings import ClientSettings, ProviderSettings, ProxySettings, Settings, split_host

ADMIN_EMAIL = "admin@example.com"
ADMIN_USER_ID = "00000000-0000-4000-8000-00000000a0d1"
IDENTITY_HEADERS = (
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    tmp.replace(path)  # atomic: no half-written secret is ever read


def _demo_secrets(data: Path) -> dict[str, str]:
    path = data / "demo-secrets.json"
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text())
        return loaded
    values = {"client_secret": new_secret(), "encryption_key": new_secret()}
    _write_private(path, json.dumps(values).encode())
    return values


def admin_password_hash(data: Path, env: Mapping[str, str], out: object = None) -> bytes:
    """The admin's bcrypt hash: from ``$IDGATE_ADMIN_PASSWORD``, the stored one, or a new password."""
    path = data / "admin-password.bcrypt"
    given = env.get("IDGATE_ADMIN_PASSWORD")
    if given:
        stored = path.read_bytes() if path.exists() else b""
        if stored and bcrypt.checkpw(given.encode(), stored):
            return stored
        hashed = bcrypt.hashpw(given.encode(), bcrypt.gensalt(rounds=10))
        _write_private(path, hashed)
        return hashed
    if path.exists():
        return path.read_bytes()
    password = new_secret(20)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10))
    _write_private(path, hashed)
    stream = out if out is not None else sys.stderr
    print(
        f"\n  idgate demo: log in as {ADMIN_EMAIL} with password {password}\n"
        f"  (shown once; only its hash is kept in {path}; "
        "set IDGATE_ADMIN_PASSWORD to choose it)\n",
        file=stream,  # type: ignore[arg-type]
        flush=True,
    )
    return hashed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def demo_settings(
    data_dir: str, listen: str = "127.0.0.1:4180", env: Mapping[str, str] | None = None
) -> Settings:
    """The settings of the embedded demo, creating its secrets in ``data_dir`` on first start."""
    from idgate.settings import StaticPassword

    env = os.environ if env is None else env
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    port = split_host(listen)[1] or 4180
    values = _demo_secrets(data)
    issuer = f"http://localhost:{port}/dex"
    host = f"demo.localhost:{port}"
    provider = ProviderSettings(
        issuer=issuer,
        clients=(
            ClientSettings(
                id="demo",
                name="Demo",
                secret=values["client_secret"],
                redirect_uris=(f"http://{host}/oauth/callback",),
            ),
        ),
        static_passwords=(
            StaticPassword(
                email=ADMIN_EMAIL,
                hash=admin_password_hash(data, env),
                username="admin",
                user_id=ADMIN_USER_ID,
            ),
        ),
    )
    proxy = ProxySettings(
        name="demo",
        host=host,
        upstream="",  # filled below, once the upstream's port is chosen
        issuer_url=issuer,
        client_id="demo",
        client_secret=values["client_secret"],
        encryption_key=values["encryption_key"].encode(),
        scopes=("openid", "email", "profile", "groups"),
        email_domains=("*",),
        approval_prompt="none",  # as the chart's default_configuration: "force" would ask for consent
    )
    upstream = f"127.0.0.1:{_free_port()}"
    from dataclasses import replace

    return Settings(
        listen=listen,
        storage=f"sqlite:///{(data / 'idgate.db').resolve()}",
        data_dir=str(data),
        provider=provider,
        proxies=(replace(proxy, upstream=f"http://{upstream}"),),
        demo_upstream=upstream,
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

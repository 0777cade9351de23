"""The embedded demo: ``idgate serve`` with no config shows the whole flow on one machine.

- provider at ``http://localhost:<port>/dex`` with one user, ``admin@example.com``;
- deployment ``demo`` at ``http://demo.localhost:<port>`` in front of the demo upstream
  (:mod:`idgate.runtime.demo_upstream`, served on ``Settings.demo_upstream``), a page that shows what a
  protected app receives (the identity headers, path and query).

The admin password is ``$IDGATE_ADMIN_PASSWORD`` or, on first start, a generated one printed once; only its
bcrypt hash is kept, in the data directory. The client secret and the cookie key are generated on first
start and kept there too (mode 0600), so sessions survive a restart.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import bcrypt

from idgate.secrets import new_secret
from idgate.settings import ClientSettings, ProviderSettings, ProxySettings, Settings, split_host

ADMIN_EMAIL = "admin@example.com"
ADMIN_USER_ID = "00000000-0000-4000-8000-00000000a0d1"


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

"""The embedded demo: ``idgate serve`` with no config shows the whole flow on one machine.

- provider at ``http://localhost:<port>/dex`` with one user, ``admin@example.com``;
- deployment ``demo`` at ``http://demo.localhost:<port>`` in front of the demo upstream
  (:mod:`idgate.runtime.demo_upstream`, served on ``Settings.demo_upstream``), a page that shows what a
  protected app receives (the identity headers, path and query).

The admin password is ``$IDGATE_ADMIN_PASSWORD`` or, on first start, a generated one printed once; only its
bcrypt hash is kept, in the data directory. The client secret and the cookie key are generated on first
start and kept there too (mode 0600), so sessions survive a restart.

Every start prints, on stderr, the address to open and how to log in (:func:`banner`): on the first, the
generated password; on a later one, where it came from and how to choose a new one, since it is not shown
again.
"""

from __future__ import annotations

import enum
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
ADMIN_HASH_FILE = "admin-password.bcrypt"


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


class Password(enum.Enum):
    """Where the admin password of this start comes from (what the banner says about it)."""

    GENERATED = "generated"  # made now: printed once
    ENVIRONMENT = "environment"  # $IDGATE_ADMIN_PASSWORD
    STORED = "stored"  # made on an earlier start: only its hash is left


def admin_password(data: Path, env: Mapping[str, str]) -> tuple[bytes, Password, str]:
    """The admin's bcrypt hash, where the password comes from, and the password itself when it was
    generated now (else ""): from ``$IDGATE_ADMIN_PASSWORD``, the stored hash, or a new password."""
    path = data / ADMIN_HASH_FILE
    given = env.get("IDGATE_ADMIN_PASSWORD")
    if given:
        stored = path.read_bytes() if path.exists() else b""
        if stored and bcrypt.checkpw(given.encode(), stored):
            return stored, Password.ENVIRONMENT, ""
        hashed = bcrypt.hashpw(given.encode(), bcrypt.gensalt(rounds=10))
        _write_private(path, hashed)
        return hashed, Password.ENVIRONMENT, ""
    if path.exists():
        return path.read_bytes(), Password.STORED, ""
    password = new_secret(20)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10))
    _write_private(path, hashed)
    return hashed, Password.GENERATED, password


def banner(url: str, hash_file: Path, source: Password, password: str = "") -> str:
    """What a start of the demo prints: the address to open, and how to log in."""
    lines = ["", f"  idgate demo: open {url}"]
    if source is Password.GENERATED:
        lines += [
            f"  log in as {ADMIN_EMAIL} with password {password}",
            f"  (shown once; only its hash is kept, in {hash_file}; set IDGATE_ADMIN_PASSWORD to choose it)",
        ]
    elif source is Password.ENVIRONMENT:
        lines += [f"  log in as {ADMIN_EMAIL} with the password in $IDGATE_ADMIN_PASSWORD"]
    else:
        lines += [
            f"  log in as {ADMIN_EMAIL} with the password printed on the first start (not shown again).",
            "  Forgot it? Stop idgate (Ctrl-C) and start it with a password you choose:",
            "    IDGATE_ADMIN_PASSWORD='a new password' make run     (or ... idgate serve)",
            f"  or delete {hash_file} and start again: a new one is printed.",
        ]
    return "\n".join([*lines, ""])


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
    hashed, source, password = admin_password(data, env)
    print(banner(f"http://{host}/", data / ADMIN_HASH_FILE, source, password), file=sys.stderr, flush=True)
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
                hash=hashed,
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
        # plain http, said once: the callback the client registers, and the origin the assertion names
        redirect_url=f"http://{host}/oauth/callback",
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

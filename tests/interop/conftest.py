"""Interop tests: idgate against two certified OpenID Connect implementations from npm.

How the pieces fit together:

- ``package.json`` and ``package-lock.json`` (repository root) pin ``openid-client`` (a certified
  relying party) and ``oidc-provider`` (a certified provider); ``make test`` runs ``npm ci`` when
  ``node_modules`` is missing or older than the lock file. :func:`tests.interop.node.node_binary`
  fails every test here (never skips) when ``node`` or those packages are missing.
- Provider role (``test_openid_client.py``): the :func:`provider` fixture runs ``idgate serve`` with a
  ``dex:``-only values file; ``rp.mjs`` is the RP, run one protocol step per Node process by
  :func:`tests.interop.node.rp`; pytest plays the browser (``tests/e2e/browser.py``) between steps,
  and the :func:`loopback` server is the RP's redirect URI.
- Proxy role (``test_oidc_provider.py``): :func:`start_proxy_world` runs ``op.mjs`` (``oidc-provider``
  on a free loopback port) and ``idgate serve`` with an ``iap:``-only values file pointing at it; the
  upstream is the end-to-end tests' recording server.

Every subprocess is waited for with a timeout and killed in teardown; every test is bounded
(:func:`tests.interop.flows.bounded`).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e import conftest as e2e
from tests.e2e.harness import (
    EMAIL,
    FIXTURES,
    Running,
    Upstream,
    free_port,
    start_idgate,
    stop_idgate,
    wait_listening,
)
from tests.interop.node import HERE, ROOT, node_binary

#: The recording server of the end-to-end tests (stands in for Grafana), as a fixture here too.
upstream = e2e.upstream

RP_CLIENT_ID = "interop-rp"
RP_CLIENT_SECRET = "interop-rp-secret-5f0c2a9e7b"
PROXY_CLIENT_ID = "grafana"
PROXY_CLIENT_SECRET = "grafana-secret-for-oidc-provider"


@pytest.fixture(scope="session")
def node() -> str:
    """``node`` with ``openid-client`` and ``oidc-provider`` installed; fails (never skips) otherwise."""
    return node_binary()


@dataclass
class Loopback:
    """A plain HTTP server on 127.0.0.1 that answers 200 to anything and records what it saw."""

    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def loopback() -> Iterator[Loopback]:
    record = Loopback(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            record.seen.append((self.path, dict(self.headers.items())))
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


def _static_password() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((FIXTURES / "kkp-values.yaml").read_text())
    (user,) = [u for u in values["dex"]["staticPasswords"] if u["email"] == EMAIL]
    return dict(user)


@dataclass
class ProviderUnderTest:
    """idgate in the provider role, and the one client the RP uses."""

    running: Running
    issuer: str
    redirect_uri: str
    post_logout_redirect_uri: str

    def client(self) -> dict[str, str]:
        return {"issuer": self.issuer, "client_id": RP_CLIENT_ID, "client_secret": RP_CLIENT_SECRET}


@pytest.fixture(scope="module")
def provider(
    node: str, loopback: Loopback, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProviderUnderTest]:
    """``idgate serve`` with only a ``dex:`` section: a static user and the RP's client."""
    tmp = tmp_path_factory.mktemp("idgate-provider")
    port = free_port()
    redirect_uri = loopback.url("/callback")
    signed_out = loopback.url("/signed-out")
    values = {
        "dex": {
            "ingress": {"host": f"idp.localhost:{port}", "path": "/dex", "scheme": "http"},
            "staticPasswords": [_static_password()],
            "clients": [
                {
                    "id": RP_CLIENT_ID,
                    "name": "openid-client",
                    "secret": RP_CLIENT_SECRET,
                    "RedirectURIs": [redirect_uri],
                    "postLogoutRedirectURIs": [signed_out],
                }
            ],
        },
        "idgate": {
            "listen": f"127.0.0.1:{port}",
            "data_dir": str(tmp / "data"),
            "storage": f"sqlite:///{tmp}/data/idgate.db",
        },
    }
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    running = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log")
    try:
        yield ProviderUnderTest(
            running, f"http://idp.localhost:{port}/dex", redirect_uri, post_logout_redirect_uri=signed_out
        )
    finally:
        assert stop_idgate(running) == 0, running.output()


@dataclass
class NodeServer:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_op(node: str, options: dict[str, Any], port: int, log: Path) -> NodeServer:
    """``node op.mjs '<options>'``: ``oidc-provider`` listening on 127.0.0.1:``port``."""
    out = log.open("wb")
    process = subprocess.Popen(
        [node, str(HERE / "op.mjs"), json.dumps({**options, "port": port})],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        wait_listening(port, process, log)
    except BaseException:
        stop_op(NodeServer(port, process, log))
        raise
    return NodeServer(port, process, log)


def stop_op(server: NodeServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


ACCOUNT_ID = "alice-7f3a"
ACCOUNT = {
    "email": "alice@example.org",
    "email_verified": True,
    "name": "Alice Liddell",
    "preferred_username": "alice",
    "groups": ["myorg", "myorg:grafana-admins"],
}


@dataclass
class ProxyWorld:
    """idgate as a proxy only (no ``dex:``), signing people in at ``oidc-provider``."""

    idgate: Running
    op: NodeServer
    issuer: str
    upstream: Upstream

    def url(self, path: str = "/") -> str:
        return self.idgate.url("grafana", path)


def proxy_values(port: int, issuer: str, upstream_port: int, data_dir: Path) -> dict[str, Any]:
    return {
        "iap": {
            "oidc_issuer_url": issuer,
            "deployments": {
                "grafana": {
                    "name": "grafana",
                    "client_id": PROXY_CLIENT_ID,
                    "client_secret": PROXY_CLIENT_SECRET,
                    "encryption_key": "3b8e1f0c7a2d9e4b6c5a1f8d0e7b2c9a",
                    "upstream_service": "127.0.0.1",
                    "upstream_port": upstream_port,
                    "ingress": {"host": f"grafana.localhost:{port}"},
                    "config": {
                        "scope": "openid email profile groups",
                        "email_domains": ["example.org"],
                        "pass_user_headers": True,
                    },
                }
            },
        },
        "idgate": {
            "listen": f"127.0.0.1:{port}",
            "data_dir": str(data_dir),
            "storage": f"sqlite:///{data_dir}/idgate.db",
        },
    }


def start_proxy_world(
    node: str,
    upstream: Upstream,
    tmp: Path,
    *,
    id_token_claims: bool = True,
    account: dict[str, Any] | None = None,
) -> ProxyWorld:
    port, op_port = free_port(), free_port()
    issuer = f"http://idp.localhost:{op_port}"
    op_options = {
        "issuer": issuer,
        "client": {
            "client_id": PROXY_CLIENT_ID,
            "client_secret": PROXY_CLIENT_SECRET,
            "redirect_uris": [f"http://grafana.localhost:{port}/oauth/callback"],
            "post_logout_redirect_uris": [
                f"http://grafana.localhost:{port}/",
                f"http://grafana.localhost:{port}/oauth/sign_in",
            ],
        },
        "account": ACCOUNT if account is None else account,
        "idTokenClaims": id_token_claims,
    }
    op = start_op(node, op_options, op_port, tmp / "oidc-provider.log")
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(proxy_values(port, issuer, upstream.port, tmp / "data")))
    try:
        running = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log")
    except BaseException:
        stop_op(op)
        raise
    return ProxyWorld(running, op, issuer, upstream)


def stop_proxy_world(world: ProxyWorld) -> None:
    try:
        code = stop_idgate(world.idgate)
    finally:
        stop_op(world.op)
    assert code == 0, world.idgate.output()


@pytest.fixture(scope="module")
def proxy_world(
    node: str, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProxyWorld]:
    world = start_proxy_world(node, upstream, tmp_path_factory.mktemp("proxy"))
    yield world
    stop_proxy_world(world)

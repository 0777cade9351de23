"""A single machine with nothing in front: ``idgate serve`` terminates TLS itself (``idgate.tls``).

idgate runs the KKP example values moved onto https (``*.localhost`` hosts, the issuer
``https://kkp.localhost:<port>/dex``) with a certificate from a throw-away CA (``trustme``). Chromium
trusts that CA through an NSS database in its own ``$HOME`` (never ``--ignore-certificate-errors``); the
proxy's own calls to the provider trust it through ``iap.customProviderCA.file``. A renewed certificate
is written over the files while idgate runs, and ``idgate.tls.redirect_http`` answers plain http.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from cryptography import x509
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    Upstream,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
    wait_listening,
)

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVICES = ("kkp", "prometheus", "alertmanager", "grafana")
RELOAD_WAIT = 15.0  # reload_interval is 1s here; the default is 15s, the most is 60s

assert os.path.exists(CHROMIUM), f"{CHROMIUM} missing: Debian's chromium is installed by scripts/system-deps"
import playwright.sync_api as playwright_api  # noqa: E402


@dataclass
class TlsWorld:
    ca: trustme.CA
    ca_file: Path
    cert: Path
    key: Path
    redirect_port: int
    tmp: Path
    idgate: Running = field(init=False)

    def url(self, service: str, path: str = "/") -> str:
        return f"https://{service}.localhost:{self.idgate.port}{path}"

    def renew(self) -> int:
        """Write a newly issued certificate (a new serial) and key over the served files."""
        leaf = self.ca.issue_cert(*(f"{s}.localhost" for s in SERVICES))
        self.key.write_bytes(leaf.private_key_pem.bytes())
        self.cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number


def https_values(port: int, upstream_port: int, world: TlsWorld) -> dict[str, Any]:
    """The harness's local KKP values, every URL on https, the CA trusted for calls to the provider."""
    values = local_values(port, upstream_port, world.tmp / "data")
    dex, iap = values["dex"], values["iap"]
    dex["ingress"]["scheme"] = "https"
    for client in dex["clients"]:
        client["RedirectURIs"] = [u.replace("http://", "https://") for u in client["RedirectURIs"]]
    iap["oidc_issuer_url"] = f"https://kkp.localhost:{port}/dex"
    iap["customProviderCA"] = {"secretName": "test-ca", "secretKey": "ca.crt", "file": str(world.ca_file)}
    values["idgate"]["tls"] = {
        "cert": str(world.cert),
        "key": str(world.key),
        "redirect_http": f"127.0.0.1:{world.redirect_port}",
        "reload_interval": "1s",
    }
    return values


@pytest.fixture(scope="module")
def tls(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsWorld]:
    tmp = tmp_path_factory.mktemp("idgate-tls")
    ca = trustme.CA()
    ca_file = tmp / "ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    port, redirect_port = free_port(), free_port()
    world = TlsWorld(ca, ca_file, tmp / "tls.crt", tmp / "tls.key", redirect_port, tmp)
    world.renew()
    values = https_values(port, upstream.port, world)
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    world.idgate = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log")
    # The public socket is bound before the runtime is built (a migration can take seconds); the plain
    # listener only once it is.
    wait_listening(redirect_port, world.idgate.process, world.idgate.log)
    yield world
    assert stop_idgate(world.idgate) == 0, world.idgate.output()


def client_context(world: TlsWorld) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(world.ca_file))


def connect(
    world: TlsWorld, ctx: ssl.SSLContext | None = None, host: str = "grafana.localhost"
) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", world.idgate.port), timeout=10)
    return (ctx or client_context(world)).wrap_socket(raw, server_hostname=host)


def ask(conn: ssl.SSLSocket, world: TlsWorld, path: str = "/oauth/healthy") -> int:
    """One keep-alive request on ``conn``; the status."""
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: grafana.localhost:{world.idgate.port}\r\n\r\n".encode())
    resp = http.client.HTTPResponse(conn)
    resp.begin()
    resp.read()
    assert not resp.will_close
    return resp.status


def served_serial(conn: ssl.SSLSocket) -> int:
    der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


# -- Chromium -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nss_home(tls: TlsWorld) -> Path:
    """A ``$HOME`` whose NSS database (where Chromium on Linux looks for local roots) trusts the CA."""
    home = tls.tmp / "home"
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{db}", "-N", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "idgate test CA", "-i", str(tls.ca_file)],
        check=True,
    )
    return home


def chromium(p: Any, home: Path) -> Any:
    return p.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
    )


def test_chromium_trusting_the_ca_logs_in_over_https_with_secure_cookies(
    tls: TlsWorld, nss_home: Path, upstream: Upstream
) -> None:
    target = tls.url("grafana", "/d/abc?orgId=1")
    with playwright_api.sync_playwright() as p:
        browser = chromium(p, nss_home)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            upstream.clear()
            page.goto(target)
            assert page.url.startswith(f"https://kkp.localhost:{tls.idgate.port}/dex/"), page.url
            page.fill("input[name=login]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(target)
            assert json.loads(page.locator("body").inner_text())["path"] == "/d/abc?orgId=1"
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["grafana_oauth2_proxy"]["secure"] is True, cookies
            assert all(c["secure"] for c in cookies.values()), cookies
        finally:
            browser.close()
    assert upstream.seen[-1].headers["X-Forwarded-Proto"] == "https"
    log = tls.idgate.output()
    assert f"serving https with the certificate from {tls.cert}: " in log
    assert "Traceback" not in log


def test_chromium_without_the_ca_refuses_the_certificate(tls: TlsWorld) -> None:
    """The control for the test above: the trust comes from the CA in the NSS database, nothing else."""
    with playwright_api.sync_playwright() as p:
        empty = tls.tmp / "empty-home"
        empty.mkdir(exist_ok=True)
        browser = chromium(p, empty)
        try:
            page = browser.new_page()
            with pytest.raises(playwright_api.Error, match="ERR_CERT_AUTHORITY_INVALID"):
                page.goto(tls.url("grafana", "/"))
        finally:
            browser.close()


# -- the listener ---------------------------------------------------------------------------------------


def test_tls_1_1_and_weak_suites_are_refused(tls: TlsWorld) -> None:
    """The listener closes such handshakes (tests/unit/runtime/test_tls_context.py shows the server's
    reasons); nothing is logged for them."""
    old = client_context(tls)
    with warnings.catch_warnings():  # deprecated, and offered here to be refused
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version, old.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        connect(tls, old)
    weak = client_context(tls)
    weak.maximum_version = ssl.TLSVersion.TLSv1_2
    weak.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:AES128-SHA")  # CBC, RSA kx
    with pytest.raises(ssl.SSLError):
        connect(tls, weak)
    modern = client_context(tls)
    modern.set_alpn_protocols(["h2", "http/1.1"])
    with connect(tls, modern) as good:
        assert good.selected_alpn_protocol() == "http/1.1"
        assert good.version() == "TLSv1.3"


def test_a_renewed_certificate_is_served_without_a_restart_and_open_connections_go_on(tls: TlsWorld) -> None:
    pid = tls.idgate.process.pid
    old = connect(tls)
    try:
        assert ask(old, tls) == 200
        before = served_serial(old)
        renewed = tls.renew()
        assert renewed != before
        deadline = time.monotonic() + RELOAD_WAIT
        while True:
            with connect(tls) as fresh:
                if served_serial(fresh) == renewed:
                    assert ask(fresh, tls) == 200
                    break
            assert time.monotonic() < deadline, f"still serving the old certificate:\n{tls.idgate.output()}"
            time.sleep(0.2)
        assert ask(old, tls) == 200  # the keep-alive connection from before the renewal still works
        assert served_serial(old) == before
    finally:
        old.close()
    assert tls.idgate.process.poll() is None and tls.idgate.process.pid == pid
    assert "TLS certificate reloaded from" in tls.idgate.output()


def test_a_key_that_does_not_match_is_logged_and_the_served_pair_kept(tls: TlsWorld) -> None:
    with connect(tls) as conn:
        serving = served_serial(conn)

    def refusals() -> list[str]:
        return [x for x in tls.idgate.output().splitlines() if "TLS certificate not reloaded" in x]

    seen = len(refusals())  # a renewal that wrote the key before the certificate may have logged one
    good_key = tls.key.read_bytes()
    tls.key.write_bytes(tls.ca.issue_cert("other.localhost").private_key_pem.bytes())
    try:
        deadline = time.monotonic() + RELOAD_WAIT
        while len(refusals()) == seen:
            assert time.monotonic() < deadline, tls.idgate.output()
            time.sleep(0.2)
        line = refusals()[seen]
        assert f"{tls.key}: does not match the certificate; expected its private key" in line
        assert "still serving" in line and "serial" in line
        assert "BEGIN" not in line  # no key material in the log
        with connect(tls) as conn:
            assert served_serial(conn) == serving
            assert ask(conn, tls) == 200
    finally:
        tls.key.write_bytes(good_key)


def test_the_plain_listener_redirects_known_hosts_to_https_only(tls: TlsWorld) -> None:
    def plain(method: str, host: str, target: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", tls.redirect_port, timeout=10)
        conn.request(method, target, headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp

    resp = plain("GET", f"grafana.localhost:{tls.redirect_port}", "/d/abc?orgId=1&x=%2F")
    assert resp.status == 308
    assert resp.headers["Location"] == f"https://grafana.localhost:{tls.idgate.port}/d/abc?orgId=1&x=%2F"
    assert plain("POST", "kkp.localhost", "/dex/token").headers["Location"] == (
        f"https://kkp.localhost:{tls.idgate.port}/dex/token"
    )
    for host in ("evil.example", f"grafana.localhost@evil.example:{tls.redirect_port}"):
        resp = plain("GET", host, "/")
        assert resp.status == 404
        assert resp.headers.get("Location") is None


def test_a_busy_redirect_http_port_is_one_line_naming_its_key(upstream: Upstream, tmp_path: Path) -> None:
    from tests.e2e.test_operator_answers import busy_line, run_idgate

    with socket.socket() as other:  # another program (the old OAuth2-Proxy, say) has the plain port
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = int(other.getsockname()[1])
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
        world = TlsWorld(ca, tmp_path / "ca.crt", tmp_path / "tls.crt", tmp_path / "tls.key", taken, tmp_path)
        world.renew()
        config = tmp_path / "values.yaml"
        config.write_text(yaml.safe_dump(https_values(free_port(), upstream.port, world)))
        line = busy_line(run_idgate("serve", "--config", str(config)))
    assert line.startswith(
        f"error: cannot listen on 127.0.0.1:{taken}, set by idgate.tls.redirect_http in {config}: "
    )

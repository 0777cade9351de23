"""``idgate.tls`` without a server: the context's protocol floor and suites, the renewal in place, and
where the plain-HTTP listener sends a request. Handshakes run over memory BIOs with real OpenSSL on
both sides; certificates come from a throw-away CA (``trustme``)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from pathlib import Path

import pytest
import trustme

from idgate.runtime.redirect_http import https_location, known_hosts
from idgate.runtime.tls import Certificates, server_context
from idgate.settings import ProviderSettings, ProxySettings, Settings, TlsSettings

HOST = "kkp.example.com"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def write_pair(ca: trustme.CA, tmp: Path) -> tuple[Path, Path]:
    """A freshly issued certificate (a new serial) and its key, written over ``tmp``'s pair."""
    leaf = ca.issue_cert(HOST)
    cert, key = tmp / "tls.crt", tmp / "tls.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


def client(ca: trustme.CA, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with warnings.catch_warnings():  # TLS 1.0 and 1.1 are deprecated: offered here to be refused
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, value in versions.items():
            setattr(ctx, name, value)
    return ctx


class Refused(Exception):
    def __init__(self, side: str, error: ssl.SSLError) -> None:
        super().__init__(f"{side}: {error}")
        self.side, self.reason = side, error.reason


class Pipe:
    """A client and a server TLS object joined by memory BIOs."""

    def __init__(self, server: ssl.SSLContext, client: ssl.SSLContext, sni: str | None = HOST) -> None:
        self.bios = [ssl.MemoryBIO() for _ in range(4)]
        c_in, c_out, s_in, s_out = self.bios
        self.server = server.wrap_bio(s_in, s_out, server_side=True)
        self.client = client.wrap_bio(c_in, c_out, server_hostname=sni)

    def _pump(self) -> None:
        c_in, c_out, s_in, s_out = self.bios
        s_in.write(c_out.read())
        c_in.write(s_out.read())

    def handshake(self) -> None:
        """Run both sides; :class:`Refused` says which side gave up, and why."""
        done = [False, False]
        for _ in range(10):
            for i, (name, side) in enumerate((("client", self.client), ("server", self.server))):
                if not done[i]:
                    try:
                        side.do_handshake()
                        done[i] = True
                    except ssl.SSLWantReadError:
                        pass
                    except ssl.SSLError as exc:
                        raise Refused(name, exc) from exc
                self._pump()
            if all(done):
                return
        raise AssertionError("handshake did not finish")

    def echo(self, data: bytes) -> bytes:
        self.client.write(data)
        self._pump()
        got = self.server.read(1024)
        self.server.write(got)
        self._pump()
        return self.client.read(1024)

    def serial(self) -> int:
        der = self.client.getpeercert(binary_form=True)
        assert der is not None
        from cryptography import x509

        return x509.load_der_x509_certificate(der).serial_number


def test_tls_12_suites_are_ecdhe_with_aead_only(ca: trustme.CA, tmp_path: Path) -> None:
    ctx = server_context(*map(str, write_pair(ca, tmp_path)))
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = [c for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    assert {(c["kea"], c["aead"]) for c in tls12} == {("kx-ecdhe", True)}, [c["name"] for c in tls12]


def test_a_handshake_offers_http_1_1_and_tls_13(ca: trustme.CA, tmp_path: Path) -> None:
    pipe = Pipe(server_context(*map(str, write_pair(ca, tmp_path))), client(ca))
    pipe.handshake()
    assert pipe.client.selected_alpn_protocol() == "http/1.1"
    assert pipe.client.version() == "TLSv1.3"
    assert pipe.echo(b"ping") == b"ping"


def test_tls_1_2_with_a_modern_suite_is_served(ca: trustme.CA, tmp_path: Path) -> None:
    pipe = Pipe(
        server_context(*map(str, write_pair(ca, tmp_path))),
        client(ca, maximum_version=ssl.TLSVersion.TLSv1_2),
    )
    pipe.handshake()
    assert pipe.client.version() == "TLSv1.2"
    cipher = pipe.client.cipher()
    assert (
        cipher is not None
        and cipher[0].startswith("ECDHE-")
        and ("GCM" in cipher[0] or "CHACHA" in cipher[0])
    )


def test_tls_1_1_and_weak_tls_1_2_suites_are_refused_by_the_server(ca: trustme.CA, tmp_path: Path) -> None:
    server = server_context(*map(str, write_pair(ca, tmp_path)))
    old = client(ca, minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client would offer it: the server must say no
    with pytest.raises(Refused) as refused:
        Pipe(server, old).handshake()
    assert (refused.value.side, refused.value.reason) == ("server", "UNSUPPORTED_PROTOCOL")
    weak = client(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
    # CBC (which Python's defaults allow), RSA key exchange, DHE: anything but ECDHE with AEAD
    weak.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:AES128-SHA:DHE-RSA-AES128-GCM-SHA256")
    with pytest.raises(Refused) as refused:
        Pipe(server, weak).handshake()
    assert (refused.value.side, refused.value.reason) == ("server", "NO_SHARED_CIPHER")


def test_a_renewed_pair_reaches_new_connections_and_open_ones_keep_theirs(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = write_pair(ca, tmp_path)
    certificates = Certificates(TlsSettings(str(cert), str(key)))
    listener = certificates.context  # what the server was started with, for good
    before = Pipe(listener, client(ca))
    before.handshake()
    old_serial = before.serial()
    assert certificates.poll() is False  # nothing changed

    write_pair(ca, tmp_path)
    caplog.set_level(logging.INFO, "idgate")
    assert certificates.poll() is True
    assert "TLS certificate reloaded from" in caplog.text
    after = Pipe(listener, client(ca))
    after.handshake()
    assert after.serial() != old_serial
    anonymous = client(ca)
    anonymous.check_hostname = False
    no_sni = Pipe(listener, anonymous, sni=None)  # the swap does not depend on the client naming a host
    no_sni.handshake()
    assert no_sni.serial() == after.serial()
    assert before.echo(b"still here") == b"still here"
    assert before.serial() == old_serial


def test_a_broken_renewal_is_logged_once_and_the_old_pair_kept(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = write_pair(ca, tmp_path)
    certificates = Certificates(TlsSettings(str(cert), str(key)))
    first = Pipe(certificates.context, client(ca))
    first.handshake()
    key_bytes = key.read_bytes()
    key.write_bytes(ca.issue_cert(HOST).private_key_pem.bytes())  # half-way through a renewal: another key
    caplog.set_level(logging.INFO, "idgate")
    assert certificates.poll() is False
    assert certificates.poll() is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"TLS certificate not reloaded ({key}: does not match the certificate; expected its private key); "
        f"still serving {certificates.served}"
    ]
    again = Pipe(certificates.context, client(ca))
    again.handshake()
    assert again.serial() == first.serial()
    key.write_bytes(key_bytes)  # the renewal completes
    assert certificates.poll() is False  # the pair served all along: nothing to reload
    write_pair(ca, tmp_path)
    assert certificates.poll() is True


def _settings() -> Settings:
    proxy = ProxySettings(
        name="grafana",
        host="Grafana.Example.com:8443",
        upstream="http://127.0.0.1:3000",
        issuer_url="https://kkp.example.com/dex",
        client_id="grafana",
        client_secret="s",
        encryption_key=b"k" * 32,
    )
    return Settings(provider=ProviderSettings(issuer="https://kkp.example.com/dex"), proxies=(proxy,))


@pytest.mark.parametrize(
    ("host", "target", "location"),
    [
        ("kkp.example.com", "/dex/auth?x=1&y=%2F", "https://kkp.example.com/dex/auth?x=1&y=%2F"),
        ("KKP.example.com.:80", "/", "https://kkp.example.com/"),
        ("grafana.example.com:80", "/d/abc?orgId=1", "https://grafana.example.com:8443/d/abc?orgId=1"),
        ("grafana.example.com", "http://evil.example/x", "https://grafana.example.com:8443/"),
        ("grafana.example.com", "//evil.example/x", "https://grafana.example.com:8443//evil.example/x"),
        ("evil.example", "/", None),
        ("kkp.example.com@evil.example", "/", None),
        ("", "/", None),
        (None, "/", None),
    ],
)
def test_the_plain_listener_sends_known_hosts_to_https_only(
    host: str | None, target: str, location: str | None
) -> None:
    assert https_location(host, target, known_hosts(_settings())) == location


async def test_a_poll_that_fails_unexpectedly_is_logged_and_polling_goes_on(
    ca: trustme.CA, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = write_pair(ca, tmp_path)

    class Flaky(Certificates):
        polls = 0

        def poll(self) -> bool:
            self.polls += 1
            if self.polls == 1:
                raise RuntimeError("surprise")
            return super().poll()

    certificates = Flaky(TlsSettings(str(cert), str(key), reload_interval=0.01))
    task = asyncio.create_task(certificates.run())
    try:
        while certificates.polls < 3:
            await asyncio.sleep(0.01)
        assert not task.done()  # still polling after the surprise
    finally:
        task.cancel()
    assert "TLS certificate not reloaded; still serving" in caplog.text

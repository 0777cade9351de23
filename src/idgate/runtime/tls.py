"""HTTPS on the public listener (``idgate.tls``): the server's TLS context, and its renewal in place.

::

    server_context(cert, key)      TLS 1.2+, for TLS 1.2 only ECDHE with AEAD ciphers, ALPN http/1.1,
                                   no compression, no renegotiation
    Certificates(tls)              the listener's context + the newest one; poll() re-reads the files
      └── run()                    poll every reload_interval until the worker stops

The listener keeps the context it started with; its ``sni_callback`` runs in every handshake (with or
without SNI) and hands the connection the newest context, so a renewed certificate reaches new connections
while open ones keep theirs (cert-manager and ACME clients renew the files in place). A changed pair that
does not load (half written, a key that is not the certificate's) is logged, and the previous one served.

The files are compared by content (cert-manager swaps a symlink, certbot rewrites the file: both change
it), a few kilobytes read every ``reload_interval``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from dataclasses import dataclass

from cryptography import x509

from idgate.config.tls import key_matches, read_pair
from idgate.settings import TlsSettings

__all__ = ["Certificates", "Served", "server_context"]

log = logging.getLogger("idgate")

#: TLS 1.2 suites: ephemeral ECDH key exchange and AEAD only (TLS 1.3's suites are all of that kind and
#: are OpenSSL's defaults). No RSA key exchange (no forward secrecy), no CBC, no SHA-1 MACs.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for the PEM files ``cert`` (chain) and ``key`` (``ssl.SSLError``/``OSError``
    when they do not load)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True, slots=True)
class Served:
    """What the log says about a loaded certificate: its names, serial and end (nothing secret)."""

    names: str
    serial: str
    not_after: str

    @classmethod
    def of(cls, cert_pem: bytes) -> Served:
        first = x509.load_pem_x509_certificates(cert_pem)[0]
        try:
            san = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = ", ".join(str(n) for n in san.get_values_for_type(x509.DNSName)[:5])
        except x509.ExtensionNotFound:
            names = ""
        return cls(
            names or first.subject.rfc4514_string(),
            format(first.serial_number, "x"),
            first.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC"),
        )

    def __str__(self) -> str:
        return f"{self.names} (serial {self.serial}, valid until {self.not_after})"


class Certificates:
    """The listener's TLS context (:attr:`context`) and the newest loaded one (:attr:`current`).

    Made from files that ``check`` accepted; raises ``ssl.SSLError``/``OSError`` when they do not load.
    """

    def __init__(self, tls: TlsSettings) -> None:
        self.tls = tls
        cert_pem, key_pem = read_pair(tls.cert, tls.key)
        self.context = server_context(tls.cert, tls.key)
        self.context.sni_callback = self._select
        self.current = self.context
        self.served = Served.of(cert_pem)
        self._digest = _digest(cert_pem, key_pem)
        self._refused = b""  # the digest of a pair that did not load: logged once, tried again on change

    def _select(self, conn: ssl.SSLObject | ssl.SSLSocket, _name: str | None, ctx: ssl.SSLContext) -> None:
        current = self.current
        if current is not ctx:
            conn.context = current

    def poll(self) -> bool:
        """Re-read the files; when they changed and load, :attr:`current` becomes their context. Whether
        a new pair is now served."""
        try:
            cert_pem, key_pem = read_pair(self.tls.cert, self.tls.key)
        except OSError as exc:
            return self._refuse(b"unreadable", f"cannot read {exc.filename}: {exc.strerror}")
        digest = _digest(cert_pem, key_pem)
        if digest == self._digest:
            return False
        wrong = key_matches(cert_pem, key_pem)
        if wrong is not None:
            file = self.tls.cert if wrong[0] == "cert" else self.tls.key
            return self._refuse(digest, f"{file}: {wrong[1]}")
        try:
            # load_cert_chain reads the files again: a renewal between the two reads is caught next time
            context = server_context(self.tls.cert, self.tls.key)
            served = Served.of(cert_pem)
        except (OSError, ssl.SSLError, ValueError) as exc:
            return self._refuse(digest, str(exc))
        self.current, self.served, self._digest, self._refused = context, served, digest, b""
        log.info("TLS certificate reloaded from %s: %s", self.tls.cert, served)
        return True

    def _refuse(self, digest: bytes, why: str) -> bool:
        if digest != self._refused:
            self._refused = digest
            log.error("TLS certificate not reloaded (%s); still serving %s", why, self.served)
        return False

    async def run(self) -> None:
        """Poll every ``reload_interval`` until cancelled; a surprise in one poll does not end the next."""
        while True:
            await asyncio.sleep(self.tls.reload_interval)
            try:
                self.poll()
            except Exception:  # logged; the pair served is kept and the files are checked again
                log.exception("TLS certificate not reloaded; still serving %s", self.served)


def _digest(cert_pem: bytes, key_pem: bytes) -> bytes:
    return hashlib.sha256(cert_pem + b"\0" + key_pem).digest()

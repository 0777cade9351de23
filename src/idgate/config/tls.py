"""``idgate.tls``: the public listener serves HTTPS itself (a single machine with nothing in front).

Like Dex's ``web.tlsCert``/``web.tlsKey`` and OAuth2-Proxy's ``tls_cert_file``/``tls_key_file``: PEM files,
the certificate file holding the server's certificate first and any intermediates after it, the key file
its unencrypted private key. The files are read again while idgate runs (:mod:`idgate.runtime.tls`), so a
renewal in place (cert-manager, an ACME client) needs no restart.

:func:`tls_problems` is what ``check`` (and so ``serve``) says about the files: missing or unreadable, no
PEM certificate or key in them, or a key that is not the certificate's. It reads the files and opens no
socket.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from idgate.config.types import Duration, Strict
from idgate.errors import Problem

__all__ = ["MAX_RELOAD_INTERVAL", "MISMATCH", "TlsSection", "key_matches", "read_pair", "tls_problems"]

#: Renewed files are served within this long at most (the issue: "within a minute").
MAX_RELOAD_INTERVAL = 60.0


def _address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise PydanticCustomError(
            "listen",
            "expected host:port such as 0.0.0.0:80 or [::]:80, got '{value}'",
            {"value": value},
        )
    return value


def _interval(value: float) -> float:
    if not 1.0 <= value <= MAX_RELOAD_INTERVAL:
        raise PydanticCustomError("duration", "expected a duration from 1s to 60s, such as 15s")
    return value


class TlsSection(Strict):
    """``idgate.tls``: serve HTTPS on ``idgate.listen`` (TLS 1.2 or newer; for TLS 1.2 only ECDHE key
    exchange with AEAD ciphers; ALPN ``http/1.1``). Cookies are then ``Secure`` and the URLs idgate builds
    are ``https``, as behind an https front. The files are checked every ``reload_interval``; changed
    files are served to new connections (open ones keep theirs), and a pair that does not load is logged
    and the previous one kept.
    """

    # PEM file: the server's certificate, then its intermediates (a "full chain").
    cert: str
    # PEM file: the certificate's private key, unencrypted.
    key: str
    # A plain-HTTP address (e.g. 0.0.0.0:80) that only redirects (308) to https on a known host; null: none.
    redirect_http: Annotated[str, AfterValidator(_address)] | None = None
    # How often the files are checked for a renewal (1s to 60s).
    reload_interval: Annotated[Duration, AfterValidator(_interval)] = Field(default=15.0)


def read_pair(cert_path: str, key_path: str) -> tuple[bytes, bytes]:
    """The two files' bytes (``OSError`` when one cannot be read)."""
    with open(cert_path, "rb") as f:
        cert = f.read()
    with open(key_path, "rb") as f:
        key = f.read()
    return cert, key


MISMATCH = "does not match the certificate; expected its private key"


def key_matches(cert_pem: bytes, key_pem: bytes) -> tuple[str, str] | None:
    """``None`` when ``key_pem`` is the private key of the first certificate in ``cert_pem``; else which
    file is wrong (``"cert"`` or ``"key"``) and what is wrong with it (:data:`MISMATCH` for a key that is
    not the certificate's)."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        return "cert", "holds no PEM certificate; expected -----BEGIN CERTIFICATE-----"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        return "key", "holds an encrypted private key; expected an unencrypted one"
    except (ValueError, UnsupportedAlgorithm):
        return "key", "holds no PEM private key; expected -----BEGIN PRIVATE KEY----- (unencrypted)"
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*der) != certs[0].public_key().public_bytes(*der):
        return "key", MISMATCH
    return None


def tls_problems(tls: TlsSection, path: tuple[str | int, ...], spell: Callable[..., str]) -> list[Problem]:
    """What keeps ``tls`` from being served: each file missing or unreadable, or the pair not matching.

    ``path`` is the YAML location of the ``tls`` block and ``spell`` a callable that spells a location
    as the file does (:meth:`idgate.config.model.Config.path`).
    """
    problems: list[Problem] = []
    data: dict[str, bytes] = {}
    for name, file in (("cert", tls.cert), ("key", tls.key)):
        where = spell(*path, name)
        if not os.path.exists(file):
            problems.append(Problem(where, f"'{file}' does not exist; expected a PEM file"))
            continue
        try:
            with open(file, "rb") as f:
                data[name] = f.read()
        except OSError as exc:
            problems.append(Problem(where, f"'{file}' cannot be read ({exc.strerror}); expected a PEM file"))
    if len(data) == 2:
        wrong = key_matches(data["cert"], data["key"])
        if wrong is not None:
            which, message = wrong
            file = tls.cert if which == "cert" else tls.key
            if message == MISMATCH:
                message = f"does not match the certificate in '{tls.cert}'; expected its private key"
            problems.append(Problem(spell(*path, which), f"'{file}' {message}"))
    return problems

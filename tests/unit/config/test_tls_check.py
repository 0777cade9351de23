"""``idgate check`` on ``idgate.tls``: what an operator reads when the certificate or key will not serve.

Certificates come from a throw-away CA (``trustme``); every message names the key's YAML path, the file,
and what was expected, and the command exits 2 ("cannot be served").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from click.testing import CliRunner

from idgate.cli import main

EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def pair(ca: trustme.CA, tmp: Path, name: str = "server") -> tuple[Path, Path]:
    leaf = ca.issue_cert("kkp.example.com")
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    return cert, key


def run_check(tmp: Path, tls: dict[str, Any]) -> tuple[int, list[str]]:
    values = yaml.safe_load(EXAMPLE.read_text())
    values.setdefault("idgate", {})["tls"] = tls
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    result = CliRunner().invoke(main, ["check", str(path)])
    lines = [line for line in result.output.splitlines() if line.startswith("error: idgate.tls")]
    return result.exit_code, lines


def test_a_matching_pair_is_no_error(ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = pair(ca, tmp_path)
    code, errors = run_check(tmp_path, {"cert": str(cert), "key": str(key)})
    assert errors == []
    assert code == 1  # the example's own warnings, nothing that stops serve


def test_missing_files_are_named_at_their_keys(tmp_path: Path) -> None:
    code, errors = run_check(tmp_path, {"cert": str(tmp_path / "no.crt"), "key": str(tmp_path / "no.key")})
    assert code == 2
    assert errors == [
        f"error: idgate.tls.cert: '{tmp_path / 'no.crt'}' does not exist; expected a PEM file",
        f"error: idgate.tls.key: '{tmp_path / 'no.key'}' does not exist; expected a PEM file",
    ]


def test_an_unreadable_key_says_why(ca: trustme.CA, tmp_path: Path) -> None:
    cert, _ = pair(ca, tmp_path)
    folder = tmp_path / "key-dir"  # a directory: unreadable even for root, who ignores file modes
    folder.mkdir()
    code, errors = run_check(tmp_path, {"cert": str(cert), "key": str(folder)})
    assert code == 2
    assert errors == [
        f"error: idgate.tls.key: '{folder}' cannot be read (Is a directory); expected a PEM file"
    ]


def test_a_key_of_another_certificate_is_refused(ca: trustme.CA, tmp_path: Path) -> None:
    cert, _ = pair(ca, tmp_path, "one")
    _, other_key = pair(ca, tmp_path, "two")
    code, errors = run_check(tmp_path, {"cert": str(cert), "key": str(other_key)})
    assert code == 2
    assert errors == [
        f"error: idgate.tls.key: '{other_key}' does not match the certificate in '{cert}'; "
        "expected its private key"
    ]


def test_files_swapped_or_not_pem_say_what_was_expected(ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = pair(ca, tmp_path)
    code, errors = run_check(tmp_path, {"cert": str(key), "key": str(cert)})
    assert code == 2
    assert errors == [
        f"error: idgate.tls.cert: '{key}' holds no PEM certificate; expected -----BEGIN CERTIFICATE-----"
    ]
    (tmp_path / "junk.key").write_text("not a key\n")
    code, errors = run_check(tmp_path, {"cert": str(cert), "key": str(tmp_path / "junk.key")})
    assert errors == [
        f"error: idgate.tls.key: '{tmp_path / 'junk.key'}' holds no PEM private key; "
        "expected -----BEGIN PRIVATE KEY----- (unencrypted)"
    ]


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"cert": "a", "key": "b", "redirect_http": "80"}, "expected host:port such as 0.0.0.0:80"),
        ({"cert": "a", "key": "b", "reload_interval": "5m"}, "expected a duration from 1s to 60s"),
        ({"cert": "a"}, "idgate.tls.key"),
    ],
)
def test_tls_keys_are_validated(tmp_path: Path, tls: dict[str, Any], message: str) -> None:
    values = yaml.safe_load(EXAMPLE.read_text())
    values.setdefault("idgate", {})["tls"] = tls
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 2
    assert message in result.output


def test_tls_with_an_http_issuer_is_a_warning(ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = pair(ca, tmp_path)
    values = yaml.safe_load(EXAMPLE.read_text())
    values["dex"]["ingress"]["scheme"] = "http"
    values.setdefault("idgate", {})["tls"] = {"cert": str(cert), "key": str(key)}
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    result = CliRunner().invoke(main, ["check", str(path)])
    assert (
        "warning: dex.ingress.scheme: is http, but idgate.tls serves https: the issuer and its links "
        "would not work; set it to https"
    ) in result.output.splitlines()

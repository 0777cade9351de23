"""Which redirect URIs may be registered (``registration_problem``): the dangerous ones are refused, plain
http to a host that is not loopback is warned about, and the public vectors (oauth2-proxy's validator
table, 558 open-redirect payloads) never leave a non-https URI accepted."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.shared_data import shared_testdata

from idgate.oauth2.redirect_uris import is_loopback_host, registration_problem

REFUSED = [
    "javascript:alert(1)",
    "JavaScript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "blob:https://app.example.com/uuid",
    "about:blank",
    "https://app.example.com/cb#frag",
    "https://app.example.com/cb#",
    "com.example.app:/cb#x",
    "/oauth/callback",
    "//evil.example/cb",
    "app.example.com/cb",
    "",
    "https://good.example@evil.example/cb",
    "https://user:pass@app.example.com/cb",
    "com.example.app://user@host/cb",
    "https:/app.example.com/cb",
    "https:app.example.com",
    "https:///cb",
    "https://app.example.com:99999/cb",
    "https://app.example.com:0/cb",
    "https://app.example.com:x/cb",
    "https://[::1/cb",
    "https://[not-ip]/cb",
    "https://exa%6dple.com/cb",
    "https://bücher.example/cb",
    "https://app.example.com/ cb",
    "https://app.example.com/cb\n",
    "https://app.example.com\\@evil.example/",
    "http://0xd83ad6ce/",
    "https://3627734734/",
    "https://0330.072.0326.0316/",
    "1http://app.example.com/",
    "grafana.localhost:24180/cb",
    "grafana.localhost/cb",
    "localhost:8080/oauth/callback",
    "10.0.0.5:8080",
    "not-a-url",
]
ACCEPTED = [
    "https://app.example.com/oauth/callback",
    "https://kkp.example.com",
    "https://app.example.com:8443/cb?x=1",
    "HTTPS://APP.EXAMPLE.COM/cb",
    "https://10.0.0.5/cb",
    "https://app_1.internal/cb",
    "https://[2001:db8::1]/cb",
    "http://127.0.0.1/cb",
    "http://127.0.0.1:8000/cb",
    "http://127.1.2.3/cb",
    "http://[::1]:8000/cb",
    "http://localhost:8000",
    "http://grafana.localhost:4180/oauth/callback",
    "http://LOCALHOST/cb",
    "com.example.app:/oauth2redirect",
    "com.example.app://callback",
    "io.kubermatic.cli:/cb",
]
WARNED = [
    "http://app.example.com/cb",
    "http://10.0.0.5:8080/cb",
    "http://localhost.evil.example/cb",
    "http://0.0.0.0/cb",
    "http://[::ffff:10.0.0.1]/cb",
    "myapp://callback",
    "urn:ietf:wg:oauth:2.0:oob",
]


@pytest.mark.parametrize("uri", REFUSED)
def test_dangerous_uris_are_refused(uri: str) -> None:
    found = registration_problem(uri)
    assert found is not None and found.severity == "error", (uri, found)


@pytest.mark.parametrize("uri", ACCEPTED)
def test_https_loopback_http_and_reversed_domain_schemes_are_accepted(uri: str) -> None:
    assert registration_problem(uri) is None


@pytest.mark.parametrize("uri", WARNED)
def test_plain_http_elsewhere_and_dotless_private_schemes_are_warnings(uri: str) -> None:
    found = registration_problem(uri)
    assert found is not None and found.severity == "warning", (uri, found)


@pytest.mark.parametrize(
    "uri", ["grafana.localhost:24180/cb", "grafana.localhost/cb", "localhost:8080/oauth/callback", "10.0.0.5"]
)
def test_a_host_without_a_scheme_is_refused_with_the_uri_to_write(uri: str) -> None:
    """``grafana.localhost:24180/cb`` read as the private-use scheme ``grafana.localhost:`` and passed."""
    found = registration_problem(uri)
    assert found is not None and found.severity == "error"
    assert found.message == f"has no scheme: write https://{uri} (or http:// for a loopback host)"


def test_messages_say_what_is_wrong() -> None:
    assert registration_problem("javascript:alert(1)") == registration_problem("javascript:x")
    cases = {
        "javascript:alert(1)": "javascript: scheme",
        "https://a.example/cb#x": "fragment",
        "/cb": "not an absolute URI",
        "https://a.example@b.example/": "userinfo",
        "http://a.example/": "plain http",
    }
    for uri, words in cases.items():
        found = registration_problem(uri)
        assert found is not None and words in found.message, (uri, found)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("[::1]", True),
        ("::1", True),
        ("localhost", True),
        ("a.b.localhost", True),
        ("[::ffff:127.0.0.1]", True),
        ("localhost.example.com", False),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("mylocalhost", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def _verdict_shape(uri: str) -> None:
    """What registration lets through at all: https, http (loopback, or warned), or a reversed-domain
    private-use scheme; never whitespace, a fragment or userinfo."""
    found = registration_problem(uri)
    if found is not None and found.severity == "error":
        return
    scheme = uri.split(":", 1)[0].lower()
    assert "#" not in uri and not any(c.isspace() for c in uri), uri
    if scheme in ("http", "https"):
        parts = urlsplit(uri)
        assert parts.hostname and "@" not in parts.netloc, uri
        if found is None and scheme == "http":
            assert is_loopback_host(parts.hostname), uri
    else:
        assert found is not None or "." in scheme, uri


def test_oauth2_proxy_validator_table_as_registrations() -> None:
    """Each input of the table, registered: whatever is not an absolute http(s) URL is refused; absolute
    ones are accepted over https and warned about over http (no allow-list applies to registration)."""
    lines = shared_testdata("redirect-validator-cases.jsonl").read_text().splitlines()
    cases = [json.loads(line) for line in lines if line.strip()][1:]
    assert len(cases) >= 57
    for case in cases:
        uri = case["input"]
        found = registration_problem(uri)
        if not uri.lower().startswith(("http://", "https://")):
            assert found is not None and found.severity == "error", case
        elif uri.lower().startswith("https://"):
            assert found is None, case
        else:
            assert found is not None and found.severity == "warning", case
        _verdict_shape(uri)


def test_open_redirect_payloads_as_registrations() -> None:
    """Each of the 558 payloads, registered: every one that is not an https URL to a plain host is refused
    or (plain http) warned about; none sneaks a script, a relative path or a disguised host through."""
    payloads = [p for p in shared_testdata("open-redirects.txt").read_text().splitlines() if p.strip()]
    assert len(payloads) >= 550
    accepted = [p for p in payloads if registration_problem(p) is None]
    refused = [p for p in payloads if (f := registration_problem(p)) is not None and f.severity == "error"]
    assert all(p.lower().startswith("https://") for p in accepted), accepted
    assert len(refused) >= 500
    for payload in payloads:
        _verdict_shape(payload)


@given(st.text(max_size=60))
def test_whatever_is_registered_has_the_shape_of_a_redirect_uri(uri: str) -> None:
    _verdict_shape(uri)


@given(st.from_regex(r"(https?|com\.example\.app|javascript|data):[ -~]{0,40}", fullmatch=True))
def test_schemed_text_has_the_shape_of_a_redirect_uri(uri: str) -> None:
    _verdict_shape(uri)

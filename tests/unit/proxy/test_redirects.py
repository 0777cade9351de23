"""Post-login redirect validation: the open-redirect corpus, OAuth2-Proxy's verdicts, a browser property."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.shared_data import shared_testdata

from idgate.proxy.redirects import normalise_host, validate_redirect

CORPUS = (shared_testdata("open-redirects.txt")).read_text(encoding="utf-8").splitlines()
_CASE_LINES = (shared_testdata("redirect-validator-cases.jsonl")).read_text(encoding="utf-8").splitlines()
ALLOWED_DOMAINS: list[str] = json.loads(_CASE_LINES[0])["_meta"]["allowed_domains"]
CASES: list[dict[str, object]] = [json.loads(line) for line in _CASE_LINES[1:] if line.strip()]

OWN_HOST = "www.whitelisteddomain.tld"


def browser_split(target: str) -> tuple[str, str, str]:
    """(scheme, host, path) as a browser reads a Location: tab/CR/LF dropped, ``\\`` read as ``/``."""
    cleaned = re.sub(r"[\t\r\n]", "", target).replace("\\", "/").strip("\x00 ")
    parts = urlsplit(cleaned)
    return parts.scheme.lower(), (parts.hostname or ""), parts.path


def stays_on_origin(target: str) -> bool:
    """A path-absolute reference that cannot name another host, even after repeated decoding."""
    for layer in (target, unquote(target), unquote(unquote(target))):
        scheme, host, path = browser_split(layer)
        if scheme or host or not path.startswith("/") or path.startswith("//"):
            return False
    return True


def test_corpus_is_complete() -> None:
    assert len(CORPUS) == 559
    assert len(CASES) == 57


@pytest.mark.parametrize("payload", CORPUS, ids=range(1, len(CORPUS) + 1))
def test_open_redirect_payload_never_leaves_the_host(payload: str) -> None:
    # Own host and whitelist hold only the domain the payloads pretend to be; nothing they should reach.
    target = validate_redirect(payload, host=OWN_HOST, whitelist_domains=[OWN_HOST])
    # A handful of lines are plain same-origin paths that carry URLs in their query string
    # (``/redirect?url=//example.com``): the browser stays on the host, so accepting them is safe.
    assert target is None or stays_on_origin(target), target


def test_corpus_accepts_only_same_origin_paths_with_urls_in_the_query() -> None:
    accepted = [p for p in CORPUS if validate_redirect(p, host=OWN_HOST) is not None]
    assert all(urlsplit(p).path in ("/", "/redirect", "/ReceiveAutoRedirect/false") for p in accepted)
    assert len(accepted) <= 5


@pytest.mark.parametrize("case", CASES, ids=[str(c["name"]) for c in CASES])
def test_oauth2_proxy_verdicts(case: dict[str, object]) -> None:
    target = validate_redirect(str(case["input"]), host="neutral.example", whitelist_domains=ALLOWED_DOMAINS)
    assert (target is not None) is case["valid"]


@pytest.mark.parametrize(
    "rd",
    [
        "/app?x=1",
        "/a/./b/../c",
        "/search?q=a%20b&r=x%5Cy",
        "https://grafana.example.com/d/abc?orgId=1",
        "HTTPS://Grafana.Example.COM/x",
        "https://grafana.example.com:443/x",
    ],
)
def test_accepted(rd: str) -> None:
    assert validate_redirect(rd, host="grafana.example.com") is not None


@pytest.mark.parametrize(
    "rd",
    [
        "",
        "//evil.com",
        "/\\evil.com",
        "/%2F%2Fevil.com",
        "/%252F%252Fevil.com",
        "/%5Cevil.com",
        "/x\\y",
        "/a b",
        "/a%20b",
        "/a%09/",
        "/\x00",
        "/\u3000x",
        "/\uff0f/evil.com",
        "/\u2215/evil.com",
        "/\u2044/evil.com",
        "/\ufe68evil.com",
        "/\uff3cevil.com",
        "https://evil\u3002com/",
        "https://grafana\uff0eexample.com/",
        "https://grafana.example.com@evil.com/",
        "https://user@grafana.example.com/",
        "https:///evil.com",
        "https:evil.com",
        "http:/evil.com",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://grafana.example.com/",
        "https://grafana.example.com:8443/",
        "https://grafana.example.com%2eevil.com/",
        "https://grafana.example.com.evil.com/",
        "https://[::1]/",
        "https://grafana.example.com/\t",
        "/%" + "25" * 10 + "2F",
        "/" + "a" * 5000,
    ],
)
def test_refused(rd: str) -> None:
    assert validate_redirect(rd, host="grafana.example.com") is None


def test_own_host_port_must_match() -> None:
    assert validate_redirect("http://demo.localhost:4180/x", host="demo.localhost:4180")
    assert validate_redirect("http://demo.localhost/x", host="demo.localhost:4180") is None
    assert validate_redirect("http://demo.localhost:4181/x", host="demo.localhost:4180") is None


def test_idn_hosts_compare_after_normalisation() -> None:
    allowed = ["bücher.example"]
    punycode = "https://xn--bcher-kva.example/"
    assert validate_redirect(punycode, host="x.test", whitelist_domains=allowed) == punycode
    assert validate_redirect("https://BÜCHER.example/", host="x.test", whitelist_domains=allowed)
    assert validate_redirect("https://bücher.example.evil/", host="x.test", whitelist_domains=allowed) is None
    assert normalise_host("Bücher.Example.") == "xn--bcher-kva.example"


def test_result_is_ascii_and_means_what_was_checked() -> None:
    assert validate_redirect("/ä?b=ü", host="h.test") == "/%C3%A4?b=%C3%BC"
    assert validate_redirect("HTTPS://H.TEST/p", host="h.test") == "https://h.test/p"


# Alphabet biased towards what matters to URL parsers, plus arbitrary Unicode.
_URL_CHARS = st.sampled_from([*"/\\:@.?#%25aeEx \t\n\r", "//", "%2f", "%5c", "\uff0f", "\u3002"])
_ALLOWED = ["ok.test", ".sub.ok.test", "port.ok.test:8080"]


def _allowed_host(host: str, port: int | None) -> bool:
    return (
        (host == "own.test" and port in (None, 443, 80))
        or (host == "ok.test" and port is None)
        or ((host == "sub.ok.test" or host.endswith(".sub.ok.test")) and port is None)
        or (host == "port.ok.test" and port == 8080)
    )


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.one_of(_URL_CHARS, st.text(max_size=3)), max_size=12).map("".join),
        st.tuples(
            st.sampled_from(["/", "//", "http://", "https://", "HTTPS:", "https:/", ""]),
            st.sampled_from(["own.test", "ok.test", "a.sub.ok.test", "port.ok.test:8080", "evil.test"]),
            st.lists(st.one_of(_URL_CHARS, st.text(max_size=2)), max_size=8).map("".join),
        ).map("".join),
    )
)
def test_accepted_targets_stay_on_allowed_origins(rd: str) -> None:
    target = validate_redirect(rd, host="own.test", whitelist_domains=_ALLOWED)
    if target is None:
        return
    assert target.isascii() and target.isprintable()
    scheme, host, _ = browser_split(target)
    if not scheme:
        assert stays_on_origin(target)
    else:
        assert scheme in ("http", "https")
        assert _allowed_host(host, urlsplit(target).port), target

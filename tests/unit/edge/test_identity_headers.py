"""Identity headers: what the proxy sets, what a client may never send (pure functions)."""

from __future__ import annotations

import pytest

from idgate.edge.http import Request
from idgate.proxy.headers import (
    HeaderOptions,
    auth_headers,
    is_reserved,
    safe_value,
    upstream_headers,
)
from idgate.sessions.base import Session


@pytest.mark.parametrize(
    "name",
    [
        "X-Forwarded-Email",
        "x-forwarded-email",
        "X_FORWARDED_EMAIL",
        "x_forwarded-user",
        "X-Forwarded-Groups",
        "X-Forwarded-Preferred-Username",
        "X-Forwarded-Access-Token",
        "X-Auth-Request-Email",
        "x_auth_request_anything",
        "X-Idgate-Deployment",
        "x_idgate_deployment",
        # other proxies' and gateways' identity headers (FOREIGN_IDENTITY_HEADERS)
        "Remote-User",
        "remote_groups",
        "X-Remote-User",
        "X-Remote-Group",
        "x_remote_extra_scopes",
        "Impersonate-User",
        "impersonate_group",
        "X-WEBAUTH-USER",
        "X_WEBAUTH_USER",
        "X-User",
        "X-Email",
        "X-Auth-User",
        "OIDC_CLAIM_email",
        "OIDC-Claim-Email",
        "OIDC_access_token",
        "OIDC_id_token",
        "X-Pomerium-Jwt-Assertion",
        "Cf-Access-Authenticated-User-Email",
        "X-Goog-Authenticated-User-Email",
        "X-Goog-IAP-JWT-Assertion",
        "X-Amzn-Oidc-Identity",
        "X-MS-CLIENT-PRINCIPAL",
        "X-MS-CLIENT-PRINCIPAL-NAME",
    ],
)
def test_reserved_names_in_any_spelling(name: str) -> None:
    assert is_reserved(name)
    req = Request(0.0)
    req.add_header(name.encode(), b"ceo@example.com")
    assert req.headers == []


@pytest.mark.parametrize("name", ["Authorization", "X-Forwarded-For", "Cookie", "X-Forwarded-Emailx"])
def test_other_names_are_not_reserved(name: str) -> None:
    assert not is_reserved(name)


@pytest.mark.parametrize("name", ["X-Users", "X-Emailer", "Remote", "X-Remote", "OIDC", "X-Userinfo-Cache"])
def test_names_that_only_look_alike_pass(name: str) -> None:
    req = Request(0.0)
    req.add_header(name.encode(), b"1")
    assert req.headers == [(name.encode(), b"1")]


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "a\x00", "a\x7f", " lead", "trail\t"])
def test_unsafe_values_are_dropped(value: str) -> None:
    assert safe_value(value) is None


@pytest.mark.parametrize("value", ["alice", "a b", "é", "\u00a0nbsp", "zero\u200bwidth", "g:team/1"])
def test_safe_values_are_kept_unchanged(value: str) -> None:
    assert safe_value(value) == value


def test_headers_for_the_edge_are_wire_ready() -> None:
    s = Session("sub", "é@example.com", True, 0, 1, "", ("g1", "bad\ng"), access_token="at", id_token="it")
    assert upstream_headers(s, HeaderOptions()) == [
        (b"X-Forwarded-User", b"sub"),
        (b"X-Forwarded-Email", "é@example.com".encode()),
        (b"X-Forwarded-Groups", b"g1"),
    ]
    options = HeaderOptions(
        prefer_email_to_user=True,
        pass_access_token=True,
        pass_authorization_header=True,
        set_xauthrequest=True,
        set_authorization_header=True,
    )
    assert [n for n, _ in upstream_headers(s, options)] == [
        b"X-Auth-Request-User",
        b"X-Forwarded-User",
        b"X-Forwarded-Email",
        b"X-Forwarded-Groups",
        b"X-Auth-Request-Email",
        b"X-Auth-Request-Groups",
        b"X-Forwarded-Access-Token",
        b"Authorization",
    ]
    assert auth_headers(s, options)[-2:] == [
        (b"X-Auth-Request-Access-Token", b"at"),
        (b"Authorization", b"Bearer it"),
    ]


def test_identity_headers() -> None:
    s = Session("sub", "a@example.com", True, 0, 1, "alice", ("g1", "bad\ng", "with,comma", "g2"))
    assert upstream_headers(s, HeaderOptions()) == [
        (b"X-Forwarded-User", b"sub"),
        (b"X-Forwarded-Email", b"a@example.com"),
        (b"X-Forwarded-Groups", b"g1,g2"),
        (b"X-Forwarded-Preferred-Username", b"alice"),
    ]
    assert [k for k, _ in auth_headers(s, HeaderOptions())] == [
        b"X-Auth-Request-User",
        b"X-Auth-Request-Email",
        b"X-Auth-Request-Groups",
        b"X-Auth-Request-Preferred-Username",
    ]


def test_empty_values_are_omitted() -> None:
    s = Session("sub", "a@example.com", True, 0, 1)
    assert [k for k, _ in upstream_headers(s, HeaderOptions())] == [b"X-Forwarded-User", b"X-Forwarded-Email"]

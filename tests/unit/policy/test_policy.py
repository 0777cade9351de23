"""The policy as a pure function: identity, method and normalised path in, decision with reasons out."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idgate.policy import Decision, compile_policy, normalise_path
from idgate.sessions.base import Session
from idgate.settings import ProxySettings


def settings(**overrides: object) -> ProxySettings:
    base: dict[str, object] = {
        "name": "app",
        "host": "app.test",
        "upstream": "http://127.0.0.1:1",
        "issuer_url": "http://idp.test",
        "client_id": "app",
        "client_secret": "s",
        "encryption_key": b"k" * 32,
        "email_domains": ("example.com",),
    }
    base.update(overrides)
    return ProxySettings(**base)  # type: ignore[arg-type]


def person(email: str = "a@example.com", verified: bool = True, groups: tuple[str, ...] = ()) -> Session:
    return Session("sub", email, verified, 0.0, 10.0, groups=groups)


def decide(session: Session | None, path: str | None = "/", **overrides: object) -> Decision:
    return compile_policy(settings(**overrides)).decide(session, "GET", path)


def test_no_session_is_unauthenticated() -> None:
    d = decide(None)
    assert not d.allowed and d.reasons == {"unauthenticated"} and d.unauthenticated


def test_allowed_session() -> None:
    d = decide(person())
    assert d.allowed and d.reasons == {"authenticated"}


@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("a@example.com", True),
        ("a@EXAMPLE.com", True),
        ("a@evilexample.com", False),
        ("a@example.com.evil", False),
        ("a@sub.example.com", False),
        ("a@b@example.com", False),
        ("example.com", False),
        ("@example.com", False),
        ("a@", False),
    ],
)
def test_email_domain_is_exact(email: str, allowed: bool) -> None:
    d = decide(person(email))
    assert d.allowed is allowed
    if not allowed:
        assert d.reasons == {"email_domain_not_allowed"}


def test_star_allows_any_domain_and_empty_list_nobody() -> None:
    assert decide(person("x@anything.test"), email_domains=("*",)).allowed
    d = decide(person(), email_domains=())
    assert not d.allowed and d.reasons == {"email_domain_not_allowed"}


def test_unverified_email_refused_unless_insecure_option() -> None:
    d = decide(person(verified=False))
    assert d.reasons == {"email_not_verified"}
    assert decide(person(verified=False), insecure_allow_unverified_email=True).allowed


def test_every_failing_reason_is_reported() -> None:
    d = decide(person("x@evil.test", verified=False), github_org="org")
    assert d.reasons == {"email_not_verified", "email_domain_not_allowed", "github_org_not_allowed"}
    assert d.reason == "email_domain_not_allowed,email_not_verified,github_org_not_allowed"


@pytest.mark.parametrize(
    ("groups", "team", "reasons"),
    [
        (("org",), None, set()),
        (("ORG",), None, set()),
        (("other",), None, {"github_org_not_allowed"}),
        ((), None, {"github_org_not_allowed"}),
        (("org", "org:team"), "team", set()),
        (("org:Team",), "team", set()),  # a team group implies the org
        (("org",), "team", {"github_team_not_allowed"}),
        (("org", "org:other"), "team", {"github_team_not_allowed"}),
        (("org", "org:b"), "a, b", set()),  # any of several teams
        (("other:team",), "team", {"github_org_not_allowed"}),
    ],
)
def test_github_org_and_team(groups: tuple[str, ...], team: str | None, reasons: set[str]) -> None:
    d = decide(person(groups=groups), github_org="Org", github_team=team)
    assert d.allowed is (not reasons)
    if reasons:
        assert d.reasons == reasons


def test_allowed_groups() -> None:
    assert decide(person(groups=("ops",)), allowed_groups=("ops", "dev")).allowed
    d = decide(person(groups=("OPS",)), allowed_groups=("ops",))
    assert d.reasons == {"not_in_allowed_groups"}


def test_skip_auth_matches_path_without_session() -> None:
    kw: dict[str, object] = {"skip_auth_regex": ("^/-/healthy",)}
    d = decide(None, "/-/healthy", **kw)
    assert d.allowed and d.reasons == {"skip_auth"}
    assert not decide(None, None, **kw).allowed  # an unsafe path is never skipped
    assert not decide(None, "/x", **kw).allowed


def test_unanchored_skip_regex_searches_like_oauth2_proxy() -> None:
    assert decide(None, "/a/-/healthy", skip_auth_regex=("/-/healthy",)).allowed


def test_invalid_regex_fails_at_compile_time() -> None:
    with pytest.raises(re.error):
        compile_policy(settings(skip_auth_regex=("(",)))


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("/", "/"),
        ("/a/b.txt", "/a/b.txt"),
        ("/-/healthy/../admin", "/-/admin"),
        ("/-/healthy/%2e%2e/admin", "/-/admin"),
        ("/-/healthy/%2E%2E/%2e/admin/", "/-/admin/"),
        ("//-//healthy", "/-/healthy"),
        ("/./-/healthy", "/-/healthy"),
        ("/a/..", "/"),
        ("/../../x", "/x"),
        ("/%7euser/%41", "/~user/A"),
        ("/a%20b", "/a%20b"),
        ("/a%7cb", "/a%7Cb"),
        ("/a%3fb", None),  # a double-parsing upstream would end the path at "?"
        ("/-/healthy%2F..%2Fadmin", None),
        ("/a%5c..%5cb", None),
        ("/a\\..\\b", None),
        ("/-/healthy/..;/admin", None),
        ("/a%00", None),
        ("/a%zz", None),
        ("/a%2", None),
        ("*", None),
        ("http://x/y", None),
        ("/caf\u00e9", None),
    ],
)
def test_normalise_path(raw: str, normalised: str | None) -> None:
    assert normalise_path(raw) == normalised


@given(st.text(alphabet="/.%2eEfF5cC;a-_~", max_size=40))
def test_normalised_paths_have_no_dot_segments_or_empty_segments(raw: str) -> None:
    out = normalise_path("/" + raw)
    if out is not None:
        segments = out.split("/")[1:]
        assert ".." not in segments and "." not in segments
        assert "" not in segments[:-1]
        assert normalise_path(out) == out  # idempotent

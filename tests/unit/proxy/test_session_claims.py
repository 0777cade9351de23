"""The session the proxy makes of verified claims (:func:`idgate.proxy.signin.session_from_claims`)."""

from __future__ import annotations

import pytest
from tests.unit.oidc.test_client import NOW, claims

from idgate.oidc.client import IdTokenInvalid
from idgate.proxy.signin import session_from_claims


def test_session_from_claims() -> None:
    session = session_from_claims(claims(), now=NOW, lifetime=3600)
    assert (session.user, session.email, session.email_verified) == (
        "CgVhbGljZRIFbG9jYWw",
        "alice@example.com",
        True,
    )
    assert session.groups == ("org", "org:team")
    assert session.preferred_username == "alice"
    assert (session.created_at, session.expires_at) == (NOW, NOW + 3600)


@pytest.mark.parametrize("value", [False, "true", 1, None])
def test_email_must_be_verified_literally_true(value: object) -> None:
    with pytest.raises(IdTokenInvalid, match="email not verified"):
        session_from_claims(claims(email_verified=value), now=NOW, lifetime=60)
    session = session_from_claims(
        claims(email_verified=value), now=NOW, lifetime=60, allow_unverified_email=True
    )
    assert session.email_verified is False


def test_email_and_sub_are_required() -> None:
    with pytest.raises(IdTokenInvalid, match="email missing"):
        session_from_claims(claims(email=None), now=NOW, lifetime=60)
    with pytest.raises(IdTokenInvalid, match="sub missing"):
        session_from_claims(claims(sub=None), now=NOW, lifetime=60)


@pytest.mark.parametrize("groups", ["org", [1, 2], {"a": 1}, ["ok", None]])
def test_malformed_groups_give_no_groups(groups: object) -> None:
    assert session_from_claims(claims(groups=groups), now=NOW, lifetime=60).groups == ()


def test_name_stands_in_for_preferred_username() -> None:
    body = claims(preferred_username=None, name="Alice A.")
    assert session_from_claims(body, now=NOW, lifetime=60).preferred_username == "Alice A."

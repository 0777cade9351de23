"""RFC 4515 filter and RFC 4514 DN escaping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from idgate.connectors.ldap import UserSearch, user_filter
from idgate.connectors.ldap_escape import escape_dn, escape_filter


def test_filter_specials() -> None:
    assert escape_filter("*)(uid=*") == "\\2a\\29\\28uid=\\2a"
    assert escape_filter("a\\b\x00") == "a\\5cb\\00"
    assert escape_filter("Jürgen") == "Jürgen"


@given(st.text())
def test_escaped_filter_value_has_no_structure(value: str) -> None:
    escaped = escape_filter(value)
    assert not set("*()\x00") & set(escaped)
    assert escaped.replace("\\5c", "").count("\\") == escaped.count("\\") - escaped.count("\\5c")


def test_dn_specials() -> None:
    assert escape_dn('a,b+c"d\\e<f>g;h=i') == 'a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i'
    assert escape_dn("#lead") == "\\#lead"
    assert escape_dn(" both ") == "\\ both\\ "
    assert escape_dn("nul\x00") == "nul\\00"


def test_user_filter() -> None:
    search = UserSearch(baseDN="dc=x", filter="objectClass=person", username="uid,mail")
    assert user_filter(search, "*") == "(&(objectClass=person)(|(uid=\\2a)(mail=\\2a)))"
    assert user_filter(UserSearch(baseDN="dc=x"), "bob") == "(&(uid=bob))"

"""The one email rule (``idgate.connectors.email``): one mailbox, unambiguous, as RFC 5321 writes it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idgate.connectors.email import checked_email, email_problem
from idgate.connectors.errors import LoginRefused

USABLE = [
    "jane@example.com",
    "Jane.Doe+tag@Example.COM",
    "o'brien@example.ie",
    "user!#$%&'*+-/=?^_`{|}~@example.com",
    "jäne@bücher.example",
    "x@xn--bcher-kva.example",
    "admin@localhost",
    "a" * 64 + "@example.com",
    "jane@" + ".".join(["a" * 63] * 3) + ".com",
]
UNUSABLE = {
    "attacker@evil.com@example.com": "more than one @",
    '"attacker@evil.com"@example.com': "more than one @",
    '"jane"@example.com': "a quoted local part",
    "jane.example.com": "no @",
    "": "an empty address",
    "@example.com": "nothing before the @",
    "jane@": "nothing after the @",
    "jane@example.com\r\nX-Forwarded-Email: ceo@example.com": "whitespace or a control character",
    "jane@example.com\x00": "whitespace or a control character",
    " jane@example.com": "whitespace or a control character",
    "ja ne@example.com": "whitespace or a control character",
    "adm\u200bin@example.com": "whitespace or a control character",
    "jane@exa\u202emple.com": "whitespace or a control character",
    "jane@[192.0.2.1]": "an address literal instead of a domain",
    ".jane@example.com": "a dot at the start or end of the local part, or two in a row",
    "jane.@example.com": "a dot at the start or end of the local part, or two in a row",
    "ja..ne@example.com": "a dot at the start or end of the local part, or two in a row",
    "jane(x)@example.com": "the character '(' in the local part",
    "jane,ceo@example.com": "the character ',' in the local part",
    "jane<x>@example.com": "the character '<' in the local part",
    "jane@example.com.": "an empty domain label, or one longer than 63 characters",
    "jane@-example.com": "a domain label with characters other than letters, digits and inner hyphens",
    "jane@ex_ample.com": "a domain label with characters other than letters, digits and inner hyphens",
    "jane@example.com,ceo@example.com": "more than one @",
    "a" * 65 + "@example.com": "a local part longer than 64 octets",
    "jane@" + ".".join(["a" * 63] * 4) + ".com": "a domain longer than 255 characters",
    "a" * 64 + "@" + ".".join(["b" * 63] * 3) + ".com": "an address longer than 254 octets",
}


@pytest.mark.parametrize("email", USABLE)
def test_usable_addresses(email: str) -> None:
    assert email_problem(email) is None
    assert checked_email(email, "GitHub") == email


@pytest.mark.parametrize(("email", "problem"), UNUSABLE.items())
def test_unusable_addresses_say_why(email: str, problem: str) -> None:
    assert email_problem(email) == problem


def test_a_refusal_names_the_upstream_and_the_problem_never_the_address() -> None:
    with pytest.raises(LoginRefused) as err:
        checked_email("attacker@evil.com@example.com", "https://login.example.org")
    assert err.value.reason == (
        "https://login.example.org sent an email address idgate cannot use (more than one @)"
    )
    assert err.value.status == 403


@given(st.text(max_size=80))
def test_a_usable_address_is_one_unambiguous_mailbox(value: str) -> None:
    if email_problem(value) is not None:
        return
    local, domain = value.split("@")  # exactly one @
    assert local and domain and not local.startswith('"')
    assert not any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    assert len(value.encode()) <= 254 and len(local.encode()) <= 64
    assert domain.encode("idna")  # encodable


@given(st.emails())
def test_generated_addresses_either_pass_or_name_a_problem(value: str) -> None:
    problem = email_problem(value)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        assert value.count("@") == 1

"""``idgate.identity_headers``: names added to the defaults and defaults let through reach the settings; a
bad entry is reported at its path and says why."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idgate.config import build_settings

Analyse = Callable[..., Any]


def test_entries_reach_the_settings(analyse: Analyse, example: dict[str, Any]) -> None:
    example["idgate"] = {"identity_headers": {"strip": ["X-Portal-User", "X-Portal-*"], "allow": ["X-User"]}}
    config, found = analyse(example)
    assert found == []
    settings = build_settings(config)
    assert (settings.strip_headers, settings.allow_headers) == (("X-Portal-User", "X-Portal-*"), ("X-User",))


def test_defaults_are_empty_lists(analyse: Analyse, example: dict[str, Any]) -> None:
    config, _ = analyse(example)
    settings = build_settings(config)
    assert (settings.strip_headers, settings.allow_headers) == ((), ())


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"strip": ["X Portal"]},
            "idgate.identity_headers.strip[0]: expected a header name such as X-Portal-User, or a prefix "
            "such as X-Portal-*, got 'X Portal'",
        ),
        (
            {"strip": ["X-*-User"]},
            "idgate.identity_headers.strip[0]: expected a header name such as X-Portal-User, or a prefix "
            "such as X-Portal-*, got 'X-*-User'",
        ),
        (
            {"strip": ["X-Portal-User", "Cookie"]},
            "idgate.identity_headers.strip[1]: 'Cookie' is a header idgate reads or sets itself; it "
            "cannot be removed here",
        ),
        (
            {"allow": ["X-Forwarded-User"]},
            "idgate.identity_headers.allow[0]: 'X-Forwarded-User' is not an entry of the default list in "
            "docs/proxy.md (idgate's own identity headers, X-Forwarded-User ..., X-Auth-Request-* and "
            "X-Idgate-*, are always removed)",
        ),
        (
            {"allow": ["X-Remote-User"]},
            "idgate.identity_headers.allow[0]: 'X-Remote-User' is not an entry of the default list in "
            "docs/proxy.md (idgate's own identity headers, X-Forwarded-User ..., X-Auth-Request-* and "
            "X-Idgate-*, are always removed); did you mean 'X-Remote-*'?",
        ),
    ],
)
def test_bad_entries_are_reported_at_their_path(
    problems: Callable[..., list[str]], example: dict[str, Any], block: dict[str, Any], message: str
) -> None:
    example["idgate"] = {"identity_headers": block}
    assert problems(example) == [message]


def test_an_allowed_entry_matches_however_it_is_spelt(analyse: Analyse, example: dict[str, Any]) -> None:
    example["idgate"] = {"identity_headers": {"allow": ["oidc_*", "x-webauth-*"]}}
    assert analyse(example)[1] == []

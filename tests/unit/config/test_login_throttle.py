"""``idgate.login_throttle``: the login limits reach the settings and the provider's throttle; a bad value
is reported at its YAML path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idgate.clock import FrozenClock
from idgate.config import build_settings
from idgate.provider.web.app import build_provider_app
from idgate.provider.web.routes import PROVIDER
from idgate.settings import LoginLimits
from idgate.storage import open_storage

Analyse = Callable[..., tuple[Any, list[str]]]
Problems = Callable[..., list[str]]


def test_the_defaults_are_the_documented_ones(analyse: Analyse, example: dict[str, Any]) -> None:
    config, problems = analyse(example)
    assert problems == []
    provider = build_settings(config).provider
    assert provider is not None
    assert provider.login_limits == LoginLimits(
        account_failures=5, address_failures=30, window=900.0, lockout=900.0, failure_delay=1.0
    )


def test_every_key_reaches_the_settings(analyse: Analyse, example: dict[str, Any]) -> None:
    example["idgate"] = {
        "login_throttle": {
            "account_failures": 3,
            "address_failures": 100,
            "window": "1h",
            "lockout": "30m",
            "failure_delay": "500ms",
        }
    }
    config, problems = analyse(example)
    assert problems == []
    provider = build_settings(config).provider
    assert provider is not None
    assert provider.login_limits == LoginLimits(3, 100, 3600.0, 1800.0, 0.5)


def test_a_partial_block_keeps_the_other_defaults(analyse: Analyse, example: dict[str, Any]) -> None:
    example["idgate"] = {"login_throttle": {"failure_delay": "0s"}}
    config, _ = analyse(example)
    provider = build_settings(config).provider
    assert provider is not None
    assert provider.login_limits == LoginLimits(failure_delay=0.0)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"account_failures": 0}, "idgate.login_throttle.account_failures: must be >= 1"),
        ({"address_failures": -3}, "idgate.login_throttle.address_failures: must be >= 1"),
        (
            {"account_failures": "5"},
            "idgate.login_throttle.account_failures: expected an integer, got a string",
        ),
        ({"window": "0s"}, "idgate.login_throttle.window: expected a duration longer than 0s, such as 15m"),
        (
            {"lockout": "-5m"},
            "idgate.login_throttle.lockout: invalid duration '-5m': must not be negative",
        ),
        (
            {"lockout": 900},
            "idgate.login_throttle.lockout: expected a duration string such as 90s or 24h, got an integer",
        ),
        (
            {"failure_delay": "11s"},
            "idgate.login_throttle.failure_delay: expected a duration from 0s to 10s, such as 1s",
        ),
        (
            {"lockuot": "1m"},
            "idgate.login_throttle.lockuot: unknown key 'lockuot'; did you mean 'lockout'?",
        ),
    ],
    ids=[
        "account-zero",
        "address-negative",
        "account-string",
        "window-zero",
        "lockout-negative",
        "lockout-number",
        "delay-too-long",
        "unknown-key",
    ],
)
def test_bad_values_name_their_key_path(
    problems: Problems, example: dict[str, Any], block: dict[str, Any], expected: str
) -> None:
    example["idgate"] = {"login_throttle": block}
    assert problems(example) == [expected]


async def test_the_provider_throttles_with_the_configured_limits(
    analyse: Analyse, example: dict[str, Any]
) -> None:
    example["idgate"] = {"login_throttle": {"account_failures": 2, "lockout": "1m", "failure_delay": "0s"}}
    config, _ = analyse(example)
    provider_settings = build_settings(config).provider
    assert provider_settings is not None
    storage = await open_storage("sqlite:///:memory:")
    try:
        app = build_provider_app(provider_settings, storage, FrozenClock())
        assert app[PROVIDER].throttle.limits == LoginLimits(
            account_failures=2, lockout=60.0, failure_delay=0.0
        )
        assert app[PROVIDER].logins.throttle is app[PROVIDER].throttle
    finally:
        await storage.close()

"""Issue 20: a refused ``password`` grant is logged like a refused form login: the login name that was
typed, never the password (the form's lines are read from a real run in tests/e2e/test_operator_logs.py)."""

from __future__ import annotations

import logging

import pytest
from tests.integration.provider.conftest import Make
from tests.integration.provider.helpers import BASIC, settings
from tests.unit.provider.support import EMAIL

WRONG = "Not-the-Passw0rd"


async def test_a_refused_password_grant_logs_the_login_name_not_the_password(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="idgate")
    provider = await make(settings(password_connector="local"))
    form = {"grant_type": "password", "username": EMAIL, "password": WRONG, "scope": "openid email"}
    resp = await provider.client.post("/dex/token", data=form, headers=BASIC)
    assert (await resp.json())["error"] == "invalid_grant"
    (failed,) = [r for r in caplog.records if r.getMessage() == "password grant failed"]
    assert failed.__dict__["login"] == EMAIL
    assert failed.__dict__["event"] == "login" and failed.__dict__["result"] == "failure"
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert WRONG not in text

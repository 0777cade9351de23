"""A second factor end to end: ``idgate user totp enroll`` on the KKP example's static user, then
``idgate serve`` (a subprocess, JSON logs at DEBUG, low ``idgate.login_throttle`` limits from the values
file) and a scripted browser that signs in through Grafana's proxy with the password and then a code."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import yaml
from click.testing import CliRunner
from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import (
    EMAIL,
    PASSWORD,
    Running,
    Upstream,
    free_port,
    local_values,
    start_idgate,
    stop_idgate,
)

from idgate.cli import main
from idgate.provider import totp

pytestmark = pytest.mark.e2e

SECRET = totp.new_secret()
KEY = totp.secret_bytes(SECRET)
FAILURES = 3
LIMITS = {"account_failures": FAILURES, "address_failures": 1000, "lockout": "10m", "failure_delay": "0s"}


@dataclass
class World:
    idgate: Running
    config: str
    recovery: list[str]
    seen: set[str] = field(default_factory=set)  # every code and recovery code the tests typed


@pytest.fixture(scope="module")
def world(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("totp")
    port = free_port()
    values = local_values(port, upstream.port, tmp / "data")
    values["idgate"]["login_throttle"] = LIMITS
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    enrol = ["user", "totp", "enroll", "--config", str(config), EMAIL, "--secret", SECRET]
    result = CliRunner().invoke(main, [*enrol, "--code", totp.totp(KEY, time.time())])
    assert result.exit_code == 0, result.output
    recovery = [line.strip() for line in result.stdout.splitlines() if line.startswith("  ")]
    assert len(recovery) == 10
    env = {"IDGATE_LOG_LEVEL": "DEBUG", "IDGATE_LOG_FORMAT": "json"}
    running = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log", env=env)
    yield World(running, str(config), recovery)
    assert stop_idgate(running) == 0, running.output()


def next_code() -> str:
    """The code of the next time step: after the step the enrolment used, whenever this runs."""
    return totp.totp(KEY, time.time() + 30)


async def password(b: Browser, w: World) -> Hop:
    """From Grafana to the provider's password form, the right password: the code form."""
    hops = await b.get(w.idgate.url("grafana", "/d/x"))
    hops = await b.submit(hops[-1], {"login": EMAIL, "password": PASSWORD})
    page = hops[-1]
    assert page.status == 200 and "/dex/auth/local/login" in page.url, [(h.url, h.status) for h in hops]
    assert 'autocomplete="one-time-code"' in page.body and 'inputmode="numeric"' in page.body
    assert "<script" not in page.body
    return page


async def code(b: Browser, w: World, page: Hop, typed: str) -> Hop:
    w.seen.add(typed)
    return (await b.submit(page, {"code": typed}))[-1]


async def test_password_and_code_reach_the_upstream_and_a_wrong_or_replayed_code_does_not(
    world: World, upstream: Upstream
) -> None:
    upstream.clear()
    right = next_code()
    async with Browser() as b:
        form = await password(b, world)
        wrong = await code(b, world, form, "000000" if right != "000000" else "111111")
        assert wrong.status == 200 and "That code is not valid" in wrong.body
        assert upstream.seen == [] and "grafana_oauth2_proxy" not in b.cookies_for(
            world.idgate.url("grafana")
        )
        done = await code(b, world, wrong, right)
        assert done.status == 200 and done.url == world.idgate.url("grafana", "/d/x")
    assert upstream.seen[-1].headers["X-Forwarded-Email"] == EMAIL
    upstream.clear()
    async with Browser() as b:  # the same code again, in another sign-in: a replay
        replay = await code(b, world, await password(b, world), right)
        assert replay.status == 200 and "That code is not valid" in replay.body
        assert upstream.seen == []
        done = await code(b, world, replay, world.recovery[0].upper())  # a recovery code works instead
        assert done.status == 200 and done.url == world.idgate.url("grafana", "/d/x")
    async with Browser() as b:  # but only once
        again = await code(b, world, await password(b, world), world.recovery[0])
        assert again.status == 200 and "That code is not valid" in again.body


async def test_the_configured_limits_lock_after_that_many_failures(world: World) -> None:
    args = ["user", "unlock", "--config", world.config, EMAIL]  # the earlier tests' failures
    unlocked = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert unlocked.exit_code == 0, unlocked.output
    async with Browser() as b:
        form = await password(b, world)
        for _ in range(FAILURES):
            started = time.monotonic()
            form = await code(b, world, form, "000000" if next_code() != "000000" else "111111")
            assert form.status == 200 and time.monotonic() - started < 0.9  # failure_delay: 0s
        locked = await code(b, world, form, next_code())
        assert locked.status == 429 and "Too many failed sign-in attempts" in locked.body
        hops = await b.get(world.idgate.url("grafana", "/"))
        refused = await b.submit(hops[-1], {"login": EMAIL, "password": PASSWORD})
        assert refused[-1].status == 429  # the password form too: one account counter


async def test_the_debug_log_names_the_steps_and_holds_no_code_or_secret(world: World) -> None:
    """Every step once (whatever ran before in this module), then the whole debug log is read."""
    unlocked = await asyncio.to_thread(
        CliRunner().invoke, main, ["user", "unlock", "--config", world.config, EMAIL]
    )
    assert unlocked.exit_code == 0, unlocked.output
    async with Browser() as b:
        form = await code(
            b, world, await password(b, world), "000000" if next_code() != "000000" else "111111"
        )
        done = await code(b, world, form, world.recovery[1])  # passed (a recovery code: never a replay)
        assert done.status == 200
    async with Browser() as b:
        form = await password(b, world)
        for _ in range(FAILURES + 1):
            form = await code(b, world, form, "000000" if next_code() != "000000" else "111111")
        assert form.status == 429
    log = world.idgate.output()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    results = {e.get("result") for e in events if e.get("event") == "login"}
    assert {"second_factor_required", "second_factor_failed", "second_factor_passed", "success"} <= results
    assert "second_factor_throttled" in results
    secrets = {SECRET, *world.recovery, *(c.replace("-", "") for c in world.recovery), *world.seen}
    leaked = sorted(s for s in secrets if s in log)
    assert leaked == [], f"second-factor secrets in the log: {leaked}"

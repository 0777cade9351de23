"""Issue 20, "Logs an operator can use": the log of a real ``idgate serve`` names the client's address
(behind the trusted proxies) on access lines, logins and sign-ins, and the login name of a failed login,
never its password, in text and in JSON.

The scripted browser comes through a stand-in ingress: every request carries ``X-Forwarded-For:
203.0.113.7`` and arrives from 127.0.0.1, which idgate trusts by default (loopback, private networks).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
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

pytestmark = pytest.mark.e2e

CLIENT = "203.0.113.7"
WRONG = "Wr0ng-" + secrets.token_hex(8)
#: What the proxy itself asks the provider (from 127.0.0.1, through no ingress): its own address.
BACK_CHANNEL = frozenset({"/dex/.well-known/openid-configuration", "/dex/token", "/dex/keys"})


class Forwarded(Browser):
    """A browser behind an ingress that appends the client's address to ``X-Forwarded-For``."""

    async def request(  # type: ignore[override]
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> list[Hop]:
        return await super().request(
            method, url, headers={"X-Forwarded-For": CLIENT, **(headers or {})}, **kw
        )


def serve(tmp: Path, upstream: Upstream, log_format: str) -> Running:
    port = free_port()
    values = local_values(port, upstream.port, tmp / "data")
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    env = {"IDGATE_LOG_FORMAT": log_format}
    return start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log", env=env)


@pytest.fixture(scope="module", params=["text", "json"])
def run(
    request: pytest.FixtureRequest, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Running]]:
    running = serve(tmp_path_factory.mktemp(f"logs-{request.param}"), upstream, request.param)
    yield request.param, running
    assert stop_idgate(running) == 0, running.output()


async def sign_in_after_a_wrong_password(idgate: Running) -> None:
    async with Forwarded() as b:
        hops = await b.get(idgate.url("grafana", "/dashboards"))
        form = hops[-1]
        assert form.status == 200 and "/dex/auth/local/login" in form.url, [(h.url, h.status) for h in hops]
        wrong = await b.submit(form, {"login": EMAIL, "password": WRONG})
        assert "Invalid email or password" in wrong[-1].body
        done = await b.submit(wrong[-1], {"login": EMAIL, "password": PASSWORD})
        assert done[-1].status == 200 and done[-1].url == idgate.url("grafana", "/dashboards")


def lines_when(idgate: Running, ready: Any, timeout: float = 5.0) -> list[str]:
    """The log's lines once ``ready(lines)`` holds (a line is written as its answer leaves)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = idgate.output().splitlines()
        if ready(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def done(lines: list[str]) -> bool:
    """Signed in, and the access lines of the first and the last request to the page are written."""
    pages = [line for line in lines if "idgate.access" in line and "/dashboards" in line]
    return any("signed in" in line for line in lines) and len(pages) >= 2


async def test_the_log_names_the_client_and_the_failed_login_never_the_password(
    run: tuple[str, Running],
) -> None:
    log_format, idgate = run
    await sign_in_after_a_wrong_password(idgate)
    lines = lines_when(idgate, done)
    text = "\n".join(lines)
    assert WRONG not in text, "the wrong password is never logged"
    if log_format == "json":
        docs = [json.loads(line) for line in lines if line.startswith("{")]
        failed = [d for d in docs if d.get("event") == "login" and d.get("result") == "failure"]
        assert len(failed) == 1, docs
        assert failed[0]["login"] == EMAIL and failed[0]["client_ip"] == CLIENT
        assert "password" not in failed[0]
        (ok,) = [d for d in docs if d.get("event") == "login" and d.get("result") == "success"]
        assert ok["client_ip"] == CLIENT and ok["email"] == EMAIL
        (signed,) = [d for d in docs if d.get("event") == "sign_in"]
        assert (
            signed["client_ip"] == CLIENT
            and signed["deployment"] == "grafana"
            and signed["result"] == "success"
        )
        access = [d for d in docs if d["logger"] == "idgate.access"]
        assert {d["client_ip"] for d in access if d["path"] in BACK_CHANNEL} == {"127.0.0.1"}
        browser = [d for d in access if d["path"] not in BACK_CHANNEL]
        assert browser and all(d["client_ip"] == CLIENT for d in browser), access
        assert any(d["path"] == "/dex/auth/local/login" and d["method"] == "POST" for d in access)
        return
    failed_lines = [line for line in lines if "password login failed" in line]
    assert len(failed_lines) == 1, text
    assert f" login={EMAIL} " in failed_lines[0] and f"client_ip={CLIENT}" in failed_lines[0]
    (ok_line,) = [line for line in lines if "login succeeded" in line]
    assert f"client_ip={CLIENT}" in ok_line and f"email={EMAIL}" in ok_line
    (signed_line,) = [line for line in lines if "signed in" in line]
    assert f"client_ip={CLIENT}" in signed_line and "event=sign_in" in signed_line
    access_lines = [line for line in lines if " idgate.access " in line]
    browser_lines = [line for line in access_lines if line.split()[7] not in BACK_CHANNEL]
    assert browser_lines and all(f" idgate.access {CLIENT} " in line for line in browser_lines), access_lines
    back = [line for line in access_lines if line.split()[7] in BACK_CHANNEL]
    assert back and all(" idgate.access 127.0.0.1 " in line for line in back), back
    assert any(
        f"{CLIENT} POST kkp.localhost:" in line and "/dex/auth/local/login" in line for line in access_lines
    )

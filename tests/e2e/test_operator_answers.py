"""What an operator sees when the file or the machine is not right (issue #20, "Wrong answers from check"):
``idgate check`` names the callback the running proxy really sends, the provider's page and log name the
``redirect_uri`` that arrived, and a busy port is one line that names the address and its setting."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream, free_port, local_values, start_idgate, stop_idgate

pytestmark = pytest.mark.e2e

SUGGESTED = re.compile(r"RedirectURIs: does not contain (\S+), the callback of iap\.deployments\.grafana")


def run_idgate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "idgate", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def write(path: Path, data: dict[str, object]) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another program listens on (as OAuth2-Proxy on 4180 in a side-by-side migration)."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


async def test_check_names_the_callback_the_sign_in_sends(tmp_path: Path, upstream: Upstream) -> None:
    """The issue's file, all plain http: ``check`` used to suggest the https callback, which then passed
    ``check`` and was refused at sign-in. Now it names the http one, and that is what the proxy sends."""
    port = free_port()
    data = local_values(port, upstream.port, tmp_path / "data")
    grafana = next(c for c in data["dex"]["clients"] if c["id"] == "grafana")
    grafana["RedirectURIs"] = [f"https://grafana.localhost:{port}/oauth/callback"]
    values = write(tmp_path / "values.yaml", data)

    refused = run_idgate("check", values)
    assert refused.returncode == 2, refused.stdout
    match = SUGGESTED.search(refused.stdout)
    assert match, refused.stdout
    suggested = match.group(1)
    assert suggested == f"http://grafana.localhost:{port}/oauth/callback"
    assert "https://grafana.localhost:" in refused.stdout and "the sign-in would be refused" in refused.stdout

    grafana["RedirectURIs"] = [suggested]  # as check says
    write(tmp_path / "values.yaml", data)
    fixed = run_idgate("check", "--config", values)
    assert not [line for line in fixed.stdout.splitlines() if line.startswith("error:")], fixed.stdout

    running = start_idgate(["serve", "--config", values], port, tmp_path / "idgate.log")
    try:
        async with Browser() as b:
            hops = await b.get(running.url("grafana", "/dashboards"))
        auth = next(h for h in hops if urlsplit(h.url).path == "/dex/auth")
        assert parse_qs(urlsplit(auth.url).query)["redirect_uri"] == [suggested]
        assert hops[-1].status == 200 and 'name="password"' in hops[-1].body, [
            (h.url, h.status) for h in hops
        ]
    finally:
        assert stop_idgate(running) == 0, running.output()


async def test_the_provider_shows_and_logs_the_redirect_uri_that_arrived(idgate: Running) -> None:
    """Escaped on the page (no markup from the URL) and in the log (no forged line)."""
    sent = f"https://grafana.localhost:{idgate.port}/oauth/callback?<b>x</b>\nFAKE LOG LINE"
    query = urlencode(
        {
            "client_id": "grafana",
            "redirect_uri": sent,
            "response_type": "code",
            "scope": "openid",
            "state": "s",
        }
    )
    async with Browser() as b:
        [page] = await b.get(f"http://kkp.localhost:{idgate.port}/dex/auth?{query}")
    assert page.status == 400
    assert "redirect_uri is not registered for this client: " in page.body
    assert f"https://grafana.localhost:{idgate.port}/oauth/callback?&lt;b&gt;x&lt;/b&gt;\\nFAKE LOG LINE" in (
        page.body
    )
    assert "<b>x</b>" not in page.body
    log = idgate.output()
    line = next(line for line in log.splitlines() if "authorization refused: redirect_uri" in line)
    assert "\\nFAKE LOG LINE' is not registered for client 'grafana'" in line
    assert f"(registered: 'http://grafana.localhost:{idgate.port}/oauth/callback')" in line
    assert not any(line.startswith("FAKE LOG LINE") for line in log.splitlines())


def busy_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "cannot listen" in line]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_busy_port_is_one_line_naming_the_address_and_its_key(
    tmp_path: Path, upstream: Upstream, taken: int
) -> None:
    values = write(tmp_path / "values.yaml", local_values(taken, upstream.port, tmp_path / "data"))
    assert busy_line(run_idgate("serve", "--config", values)) == (
        f"error: cannot listen on 127.0.0.1:{taken}, set by idgate.listen in {values}: address already in "
        f"use; another program has this port: stop it or change idgate.listen in {values}"
    )


def test_a_busy_port_with_workers_is_said_once(tmp_path: Path, upstream: Upstream, taken: int) -> None:
    values = write(tmp_path / "values.yaml", local_values(taken, upstream.port, tmp_path / "data"))
    line = busy_line(run_idgate("serve", "--config", values, "--workers", "2"))
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{taken}, set by idgate.listen in {values}: ")


def test_a_busy_port_from_listen_names_the_option(tmp_path: Path, taken: int) -> None:
    line = busy_line(run_idgate("serve", "--listen", f"127.0.0.1:{taken}", "--data-dir", str(tmp_path)))
    assert line == (
        f"error: cannot listen on 127.0.0.1:{taken}, set by --listen: address already in use; another "
        "program has this port: stop it or change --listen"
    )


def test_a_busy_health_port_names_its_key(tmp_path: Path, upstream: Upstream, taken: int) -> None:
    port = free_port()
    values = write(tmp_path / "values.yaml", local_values(port, upstream.port, tmp_path / "data"))
    line = busy_line(
        run_idgate("serve", "--config", values, "--set", f"idgate.health_listen=127.0.0.1:{taken}")
    )
    assert line.startswith(
        f"error: cannot listen on 127.0.0.1:{taken}, set by idgate.health_listen in {values}: "
    )

"""``idgate serve`` with no config: the embedded demo a newcomer runs with ``make run``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.e2e.browser import Browser
from tests.e2e.harness import free_port, start_idgate, stop_idgate

pytestmark = pytest.mark.e2e

PASSWORD_LINE = re.compile(r"log in as admin@example\.com with password (\S+)")


def serve_demo(tmp_path: Path, name: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    port = free_port()
    args = ["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data")]
    return start_idgate(args, port, tmp_path / f"{name}.log", env)


async def test_demo_login_shows_identity_at_the_demo_upstream(tmp_path: Path) -> None:
    running = serve_demo(tmp_path, "first", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        match = PASSWORD_LINE.search(running.output())
        assert match, running.output()
        password = match.group(1)
        async with Browser() as b:
            hops = await b.get(running.url("demo", "/hello?x=1"))
            assert hops[-1].status == 200 and "/dex/" in hops[-1].url
            hops = await b.submit(hops[-1], {"login": "admin@example.com", "password": password})
            page = hops[-1]
        assert page.status == 200, [(h.url, h.status) for h in hops]
        assert page.url == running.url("demo", "/hello?x=1")
        assert "X-Forwarded-Email" in page.body and "admin@example.com" in page.body
        # its storage was created, by a child process: SQLAlchemy and Alembic never entered this one
        loaded = Path(f"/proc/{running.process.pid}/maps").read_text()
        assert "Creating the storage schema" in running.output()
        assert "/sqlalchemy/" not in loaded and "/greenlet/" not in loaded
    finally:
        assert stop_idgate(running) == 0, running.output()

    # the generated password is printed once only; its hash is what stays on disk
    stored = (tmp_path / "data" / "admin-password.bcrypt").read_bytes()
    assert stored.startswith(b"$2") and password.encode() not in stored
    again = serve_demo(tmp_path, "second", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        assert PASSWORD_LINE.search(again.output()) is None
    finally:
        assert stop_idgate(again) == 0, again.output()


async def test_make_run_says_what_to_open_and_on_a_second_start_how_to_reset_the_password(
    tmp_path: Path,
) -> None:
    first = serve_demo(tmp_path, "first", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        said = first.output()
        assert f"idgate demo: open {first.url('demo', '/')}\n" in said
        assert PASSWORD_LINE.search(said) and "Forgot it?" not in said
    finally:
        assert stop_idgate(first) == 0, first.output()
    second = serve_demo(tmp_path, "second", {"IDGATE_ADMIN_PASSWORD": ""})
    try:
        said = second.output()
        assert f"idgate demo: open {second.url('demo', '/')}\n" in said
        assert "log in as admin@example.com with the password printed on the first start" in said
        assert "Forgot it? Stop idgate (Ctrl-C) and start it with a password you choose:" in said
        assert "IDGATE_ADMIN_PASSWORD='a new password' make run" in said
        assert f"or delete {tmp_path / 'data' / 'admin-password.bcrypt'} and start again" in said
        assert PASSWORD_LINE.search(said) is None
    finally:
        assert stop_idgate(second) == 0, second.output()
    # what the hint says works: a password from the environment replaces the forgotten one
    third = serve_demo(tmp_path, "third", {"IDGATE_ADMIN_PASSWORD": "a new password"})
    try:
        assert "with the password in $IDGATE_ADMIN_PASSWORD" in third.output()
        async with Browser() as b:
            hops = await b.get(third.url("demo", "/"))
            hops = await b.submit(hops[-1], {"login": "admin@example.com", "password": "a new password"})
        assert hops[-1].status == 200 and hops[-1].url == third.url("demo", "/")
    finally:
        assert stop_idgate(third) == 0, third.output()


async def test_demo_admin_password_from_environment(tmp_path: Path) -> None:
    running = serve_demo(tmp_path, "env", {"IDGATE_ADMIN_PASSWORD": "correct horse battery"})
    try:
        assert "correct horse battery" not in running.output()
        async with Browser() as b:
            hops = await b.get(running.url("demo", "/"))
            hops = await b.submit(
                hops[-1], {"login": "admin@example.com", "password": "correct horse battery"}
            )
        assert hops[-1].status == 200 and hops[-1].url == running.url("demo", "/")
    finally:
        assert stop_idgate(running) == 0, running.output()

"""``idgate client|user|keys`` through click's CliRunner, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import bcrypt
import pytest
import yaml
from click.testing import CliRunner, Result

from idgate.cli import main
from idgate.connectors.local import LocalConnector
from idgate.errors import NotFound
from idgate.provider import second_factor, totp
from idgate.storage import open_storage
from idgate.storage.base import SecondFactor

ADMIN_URL = os.environ.get("IDGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
EXAMPLE = Path(__file__).parents[2] / "fixtures" / "kkp-values.yaml"


def _postgres_database() -> Iterator[str]:
    name = f"idgate_test_{secrets.token_hex(6)}"

    async def admin(sql: str) -> None:
        try:
            conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.fail(f"PostgreSQL is required at {ADMIN_URL} and is unreachable: {exc}")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/idgate.db"
    else:
        yield from _postgres_database()


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_client_add_list_delete(url: str) -> None:
    added = run(
        "client",
        "add",
        "--storage",
        url,
        "--id",
        "kubectl",
        "--name",
        "Kubectl",
        "--redirect-uri",
        "http://localhost:8000",
    )
    assert added.exit_code == 0, added.output
    assert "added client kubectl" in added.output
    generated = added.output.split("secret: ", 1)[1].strip()
    assert len(generated) == 32
    listed = run("client", "list", "--storage", url)
    assert "kubectl\tKubectl\tconfidential\thttp://localhost:8000" in listed.output
    assert listed.output.splitlines()[0] == "ID\tNAME\tTYPE\tREDIRECT URIS"  # a header row names the columns
    assert generated not in listed.output
    again = run("client", "add", "--storage", url, "--id", "kubectl", "--redirect-uri", "http://localhost/x")
    assert again.exit_code == 1 and "exists already" in again.output
    assert run("client", "delete", "--storage", url, "kubectl").exit_code == 0
    missing = run("client", "delete", "--storage", url, "kubectl")
    assert missing.exit_code == 1 and "no client 'kubectl'" in missing.output


def test_public_client_has_no_secret(url: str) -> None:
    result = run(
        "client", "add", "--storage", url, "--id", "cli", "--public", "--redirect-uri", "http://127.0.0.1/cb"
    )
    assert result.exit_code == 0 and "secret:" not in result.output
    assert "cli\t-\tpublic" in run("client", "list", "--storage", url).output
    bad = run(
        "client", "add", "--storage", url, "--id", "x", "--public", "--secret", "s", "--redirect-uri", "h"
    )
    assert bad.exit_code == 2


def test_user_add_logs_in_through_the_local_connector_then_passwd_and_delete(url: str) -> None:
    added = run(
        "user", "add", "--storage", url, "--email", "Jane@Example.com", input="correct horse\ncorrect horse\n"
    )
    assert added.exit_code == 0, added.output
    listed = run("user", "list", "--storage", url).output
    assert "Jane@Example.com\tJane\t" in listed and "$2" not in listed
    assert listed.splitlines()[0] == "EMAIL\tUSERNAME\tUSER ID\tTOTP"  # a header row names the columns

    async def login(password: str) -> bool:
        storage = await open_storage(url)
        try:
            return await LocalConnector(storage).login(("openid",), "jane@example.com", password) is not None
        finally:
            await storage.close()

    assert asyncio.run(login("correct horse"))
    assert (
        run("user", "passwd", "--storage", url, "jane@example.com", "--password", "battery staple").exit_code
        == 0
    )
    assert not asyncio.run(login("correct horse"))
    assert asyncio.run(login("battery staple"))
    assert run("user", "delete", "--storage", url, "jane@example.com").exit_code == 0
    assert not asyncio.run(login("battery staple"))
    gone = run("user", "passwd", "--storage", url, "jane@example.com", "--password", "whatever1")
    assert gone.exit_code == 1 and "no user" in gone.output


def test_short_passwords_and_bad_emails_are_refused(url: str) -> None:
    assert run("user", "add", "--storage", url, "--email", "a@b.c", "--password", "short").exit_code == 2
    assert run("user", "add", "--storage", url, "--email", "nope", "--password", "long enough").exit_code == 2


def test_keys_list_and_rotate(url: str) -> None:
    listed = run("keys", "list", "--storage", url)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()  # stderr: "Creating the storage schema ..." (idgate.progress)
    assert lines[0].startswith("next rotation: ")
    assert lines[1] == "KID\tALGORITHM\tSTATE\tCREATED"  # a header row names the columns
    assert all(len(line.split("\t")) == 4 for line in lines[1:]), lines
    signer = next(line.split("\t")[0] for line in lines if "\tsigning\t" in line)
    upcoming = next(line.split("\t")[0] for line in lines if "\tnext\t" in line)
    rotated = run("keys", "rotate", "--storage", url)
    assert rotated.exit_code == 0 and upcoming in rotated.output
    after = run("keys", "list", "--storage", url).output
    assert f"{upcoming}\tRS256\tsigning" in after
    assert f"{signer}\tRS256\tretired, published until" in after


def test_config_file_finds_the_storage_and_its_static_records_are_read_only(tmp_path: Path) -> None:
    values = yaml.safe_load(EXAMPLE.read_text())
    values.setdefault("idgate", {})["storage"] = f"sqlite:///{tmp_path}/from-config.db"
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    listed = run("client", "list", "--config", str(path))
    assert listed.exit_code == 0, listed.output
    static_id = values["dex"]["clients"][0]["id"]
    assert f"{static_id}\t" in listed.output and "(config file)" in listed.output
    refused = run("client", "delete", "--config", str(path), static_id)
    assert refused.exit_code == 1 and "config file" in refused.output
    assert (tmp_path / "from-config.db").exists()


def test_without_config_or_storage_the_command_says_what_is_missing() -> None:
    result = run("client", "list")
    assert result.exit_code == 2 and "--config FILE" in result.output


# -- idgate user totp ---------------------------------------------------------------------------

RECOVERY_LINE = re.compile(r"  ([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})")


def stored_factor(url: str, email: str) -> SecondFactor | None:
    async def get() -> SecondFactor | None:
        storage = await open_storage(url)
        try:
            return await storage.get(SecondFactor, email.lower())
        except NotFound:
            return None
        finally:
            await storage.close()

    return asyncio.run(get())


def check_code(url: str, email: str, typed: str) -> str | None:
    async def check() -> str | None:
        storage = await open_storage(url)
        try:
            return await second_factor.verify(storage, email.lower(), typed, time.time())
        finally:
            await storage.close()

    return asyncio.run(check())


def now_code(secret: str) -> str:
    return totp.totp(totp.secret_bytes(secret), time.time())


def add_jane(url: str) -> None:
    added = run("user", "add", "--storage", url, "--email", "Jane@Example.com", "--password", "correct horse")
    assert added.exit_code == 0, added.output


def test_user_totp_enroll_prints_the_secret_once_and_saves_only_a_confirmed_code(url: str) -> None:
    add_jane(url)
    secret = totp.new_secret()
    wrong = "000000" if now_code(secret) != "000000" else "111111"
    refused = run(
        "user", "totp", "enroll", "--storage", url, "JANE@example.com", "--secret", secret, "--code", wrong
    )
    assert refused.exit_code == 1 and "nothing was saved" in refused.output
    assert stored_factor(url, "jane@example.com") is None
    assert "Jane@Example.com\tJane\t" in run("user", "list", "--storage", url).output
    assert "\ttotp" not in run("user", "list", "--storage", url).output

    args = ["--secret", secret.lower(), "--code", now_code(secret), "--issuer", "Example Corp"]
    enrolled = run("user", "totp", "enroll", "--storage", url, "JANE@example.com", *args)
    assert enrolled.exit_code == 0, enrolled.output
    out = enrolled.stdout
    assert (
        f"otpauth URI: otpauth://totp/Example%20Corp:Jane@Example.com?secret={secret}&issuer=Example%20Corp"
        in out
    )
    assert f"secret: {secret}\n" in out and "TOTP second factor on for Jane@Example.com" in out
    codes = RECOVERY_LINE.findall(out)
    assert len(codes) == 10 and len(set(codes)) == 10
    factor = stored_factor(url, "jane@example.com")
    assert factor is not None and factor.secret == secret
    assert factor.recovery_hashes == tuple(totp.recovery_hash(c) for c in codes)
    assert factor.last_step >= totp.step_of(time.time()) - 1  # the confirming code cannot sign in
    listed = run("user", "list", "--storage", url).output
    assert "\ttotp" in listed and secret not in listed and codes[0] not in listed
    again = run("user", "totp", "enroll", "--storage", url, "jane@example.com", "--code", "123456")
    assert again.exit_code == 1 and "has a second factor already" in again.output


def test_user_totp_enroll_asks_for_the_code_after_showing_the_secret(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_jane(url)
    secret = totp.new_secret()
    monkeypatch.setattr(totp, "new_secret", lambda: secret)
    enrolled = run(
        "user", "totp", "enroll", "--storage", url, "jane@example.com", input=now_code(secret) + "\n"
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert f"secret: {secret}" in enrolled.output and "the code the app shows now" in enrolled.output
    assert stored_factor(url, "jane@example.com") is not None


def test_user_totp_recovery_codes_replace_the_old_ones_and_disable_turns_it_off(url: str) -> None:
    add_jane(url)
    secret = totp.new_secret()
    enrolled = run(
        "user",
        "totp",
        "enroll",
        "--storage",
        url,
        "jane@example.com",
        "--secret",
        secret,
        "--code",
        now_code(secret),
    )
    old = RECOVERY_LINE.findall(enrolled.stdout)
    renewed = run("user", "totp", "recovery-codes", "--storage", url, "jane@example.com")
    assert renewed.exit_code == 0, renewed.output
    new = RECOVERY_LINE.findall(renewed.stdout)
    assert len(new) == 10 and not set(new) & set(old)
    assert check_code(url, "jane@example.com", old[0]) is None
    assert check_code(url, "jane@example.com", new[0]) == "recovery_code"
    assert check_code(url, "jane@example.com", new[0]) is None  # once

    assert run("user", "totp", "disable", "--storage", url, "jane@example.com").exit_code == 0
    assert stored_factor(url, "jane@example.com") is None
    assert "\ttotp" not in run("user", "list", "--storage", url).output
    for command in ("disable", "recovery-codes"):
        missing = run("user", "totp", command, "--storage", url, "jane@example.com")
        assert missing.exit_code == 1 and "'jane@example.com' has no TOTP second factor" in missing.output


def test_user_totp_for_unknown_users_says_so_and_user_delete_removes_the_factor(url: str) -> None:
    unknown = run("user", "totp", "enroll", "--storage", url, "ghost@example.com", "--code", "123456")
    assert unknown.exit_code == 1
    assert "no user 'ghost@example.com' (a user of dex.staticPasswords needs --config FILE)" in unknown.output
    assert "secret:" not in unknown.output
    add_jane(url)
    secret = totp.new_secret()
    run(
        "user",
        "totp",
        "enroll",
        "--storage",
        url,
        "jane@example.com",
        "--secret",
        secret,
        "--code",
        now_code(secret),
    )
    assert stored_factor(url, "jane@example.com") is not None
    assert run("user", "delete", "--storage", url, "jane@example.com").exit_code == 0
    assert stored_factor(url, "jane@example.com") is None


def test_user_totp_enroll_a_static_password_user_through_the_config(tmp_path: Path) -> None:
    values = yaml.safe_load(EXAMPLE.read_text())
    values.setdefault("idgate", {})["storage"] = f"sqlite:///{tmp_path}/totp.db"
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    email = values["dex"]["staticPasswords"][0]["email"]
    secret = totp.new_secret()
    without = run(
        "user", "totp", "enroll", "--storage", f"sqlite:///{tmp_path}/totp.db", email, "--code", "1"
    )
    assert without.exit_code == 1 and "needs --config FILE" in without.output
    enrolled = run(
        "user", "totp", "enroll", "--config", str(path), email, "--secret", secret, "--code", now_code(secret)
    )
    assert enrolled.exit_code == 0, enrolled.output
    assert f":{email}?secret={secret}" in enrolled.stdout
    assert f"{email}\t" in run("user", "list", "--config", str(path)).output
    assert "\ttotp (config file)" in run("user", "list", "--config", str(path)).output


def test_user_passwd_on_a_config_file_user_says_where_to_change_it(tmp_path: Path) -> None:
    values = yaml.safe_load(EXAMPLE.read_text())
    values.setdefault("idgate", {})["storage"] = f"sqlite:///{tmp_path}/static.db"
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    before = path.read_text()
    email = values["dex"]["staticPasswords"][0]["email"]
    result = run("user", "passwd", "--config", str(path), email, "--password", "a much better one")
    assert result.exit_code == 1
    said = result.output
    assert (
        f"Error: {email} is a user of the config file, not of storage: its password hash is "
        f"dex.staticPasswords[0].hash in {path}.\n"
        "To change it, put this bcrypt hash of the password you typed there:\n"
    ) in said
    assert "password '" not in said and "defined in the config file" not in said
    [hashed] = re.findall(r"^  (\$2b\$\S+)$", said, re.M)
    assert bcrypt.checkpw(b"a much better one", hashed.encode())
    assert "a much better one" not in said and path.read_text() == before  # nothing changed here
    deleted = run("user", "delete", "--config", str(path), email)
    assert deleted.exit_code == 1
    assert f"{email} is a user of the config file (dex.staticPasswords[0] in {path}): remove it there" in (
        deleted.output
    )

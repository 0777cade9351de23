"""``idgate check`` warns for a static password whose hash is that of a common password (issue #20), at its
key, naming the user and never the password; hashes above cost 12 are not tried; serve and render do not
run it (bcrypt checks take time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import bcrypt
import pytest

from idgate.config import check
from idgate.config.weak_passwords import COMMON_PASSWORDS, MAX_COST, cost_of

Analyse = Callable[..., Any]


def hashed(password: str, cost: int = 4) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()


def weak(analyse: Analyse, data: dict[str, Any], target: str | None = None) -> list[str]:
    config, found = analyse(data)
    assert found == [], found
    return [str(p) for p in check(config, target) if "commonest" in p.message]  # type: ignore[arg-type]


def user(email: str, hash_: str) -> dict[str, str]:
    return {"email": email, "hash": hash_, "username": email.split("@", maxsplit=1)[0], "userID": email}


def test_the_list_is_short_and_starts_with_password() -> None:
    assert 15 <= len(COMMON_PASSWORDS) <= 25 and COMMON_PASSWORDS[0] == "password"
    assert len(set(COMMON_PASSWORDS)) == len(COMMON_PASSWORDS)


def test_the_kkp_examples_hash_is_found(analyse: Analyse, example: dict[str, Any]) -> None:
    """The example's ``$2a$10$zMJhg...`` is bcrypt("password")."""
    assert weak(analyse, example) == [
        "dex.staticPasswords[0].hash: is the hash of one of the 20 commonest passwords: anyone can sign in "
        "as kubermatic@example.com; put the hash of a strong password here (htpasswd -nbBC 10 '' "
        "'NEW PASSWORD' | cut -d: -f2)"
    ]


@pytest.mark.parametrize("password", ["123456", "admin", "changeme", "passw0rd"])
def test_each_user_is_warned_at_its_own_key(analyse: Analyse, example: dict[str, Any], password: str) -> None:
    example["dex"]["staticPasswords"] = [
        user("ok@example.com", hashed("a long and unusual passphrase")),
        user("weak@example.com", hashed(password)),
    ]
    [found] = weak(analyse, example)
    assert found.startswith("dex.staticPasswords[1].hash: ") and "weak@example.com" in found
    assert password not in found.replace("weak@example.com", "")


def test_a_strong_password_is_quiet(analyse: Analyse, example: dict[str, Any]) -> None:
    example["dex"]["staticPasswords"] = [user("ok@example.com", hashed("Tr0ub4dor&3-horse-staple"))]
    assert weak(analyse, example) == []


def test_only_idgate_check_tries_them(analyse: Analyse, example: dict[str, Any]) -> None:
    """``serve`` and ``render kubernetes`` run the checks at every start: no bcrypt work there."""
    assert weak(analyse, example, "serve") == []
    assert weak(analyse, example, "kubernetes") == []


def test_hashes_above_cost_12_are_not_tried(analyse: Analyse, example: dict[str, Any]) -> None:
    """A cost-13 hash is not made here (seconds); its cost field is what is read."""
    example["dex"]["staticPasswords"][0]["hash"] = example["dex"]["staticPasswords"][0]["hash"].replace(
        "$10$", "$13$", 1
    )
    started = time.monotonic()
    assert weak(analyse, example) == []
    assert time.monotonic() - started < 5
    assert MAX_COST == 12 and cost_of(b"$2a$13$" + b"x" * 53) == 13


def test_the_same_hash_twice_is_tried_once_and_warned_twice(
    analyse: Analyse, example: dict[str, Any]
) -> None:
    same = hashed("letmein")
    example["dex"]["staticPasswords"] = [user("a@example.com", same), user("b@example.com", same)]
    assert [f.split(":", 1)[0] for f in weak(analyse, example)] == [
        "dex.staticPasswords[0].hash",
        "dex.staticPasswords[1].hash",
    ]

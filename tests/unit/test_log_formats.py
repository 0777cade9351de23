"""Issue 20: text log lines show a record's fields (the client's address, the login name), written so that
a value from a client cannot forge a field or a line; JSON lines carry the same fields."""

from __future__ import annotations

import json
import logging
import sys

from idgate.runtime.logs import JsonFormatter, TextFormatter


def record(name: str, msg: str, extra: dict[str, object], exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            info = sys.exc_info()
    out = logging.getLogger(name).makeRecord(name, logging.INFO, "x.py", 1, msg, (), info, extra=extra)
    return out


def test_a_login_event_shows_its_fields_after_the_message() -> None:
    line = TextFormatter().format(
        record(
            "idgate.provider",
            "password login failed",
            {
                "connector_id": "local",
                "event": "login",
                "login": "alice@example.com",
                "client_ip": "203.0.113.7",
            },
        )
    )
    assert line.endswith(
        " INFO idgate.provider password login failed"
        " connector_id=local event=login login=alice@example.com client_ip=203.0.113.7"
    ), line


def test_a_value_from_a_client_cannot_forge_a_field_or_a_line() -> None:
    typed = 'eve result=success\n2026-01-01 INFO idgate.provider login succeeded "x'
    line = TextFormatter().format(record("idgate.provider", "password login failed", {"login": typed}))
    assert "\n" not in line
    assert line.endswith(" login=" + json.dumps(typed)), line
    assert json.loads(line.split(" login=", 1)[1]) == typed


def test_lines_without_fields_and_the_edges_own_lines_are_as_before() -> None:
    plain = TextFormatter().format(record("idgate", "idgate listening on 127.0.0.1:4180", {}))
    assert plain.endswith(" INFO idgate idgate listening on 127.0.0.1:4180")
    access = TextFormatter().format(
        record("idgate.access", "203.0.113.7 GET /", {"client_ip": "203.0.113.7"})
    )
    assert access.endswith(" INFO idgate.access 203.0.113.7 GET /")


def test_a_traceback_stays_below_the_line_with_its_fields() -> None:
    line = TextFormatter().format(
        record("idgate.proxy", "unexpected failure", {"request_id": "r1"}, exc=True)
    )
    first, rest = line.split("\n", 1)
    assert first.endswith("unexpected failure request_id=r1")
    assert rest.startswith("Traceback") and "RuntimeError: boom" in rest


def test_json_lines_carry_the_same_fields() -> None:
    doc = json.loads(
        JsonFormatter().format(
            record(
                "idgate.provider", "password login failed", {"login": 'a"b\nc', "client_ip": "2001:db8::1"}
            )
        )
    )
    assert doc["login"] == 'a"b\nc' and doc["client_ip"] == "2001:db8::1"
    assert doc["message"] == "password login failed" and doc["logger"] == "idgate.provider"

"""Logs on stderr: ``--log-format text`` (the default) writes ``time level logger message``, then the
record's ``extra`` fields as ``key=value`` (:class:`TextFormatter`; not for the start-up steps, whose
message already holds them); ``--log-format json`` writes one JSON object per line with the record's
``extra`` fields as keys (standard-library formatters, no processor chain).

The edge's access lines, one per request, do not go through ``logging`` under ``idgate serve``: the edge
formats them itself in the same format and writes them to stderr in batches from a thread of its own,
flushed at least every second and when the worker stops (:mod:`idgate.edge.access_log`,
:func:`batched_access_log`). A record of the ``idgate.access`` logger, as in-process tests see it, has the
same message and fields. Everything else (logins, sign-ins, the provider, start-up) is a record.

Values may come from the client (a login name, a forwarded address, a Host header): in text, one that is
not a plain token is written as a JSON string, so a quote, a space or a control character cannot forge a
field or a line (:func:`text_value`, the rule the access line follows too); JSON escapes them anyway.

The fields an operator looks for: ``client_ip`` (the client's address behind the trusted proxies,
:meth:`idgate.edge.trust.Trust.client`) on access lines, logins and sign-ins; ``login`` (the name typed,
never the password) on a failed login; ``user`` and ``decision`` on access lines.

The level is ``IDGATE_LOG_LEVEL`` (default INFO), read by ``idgate serve`` (:mod:`idgate.cli.serve`)
and handed to :func:`configure_logging`; above INFO no access line is written (the metrics still count
every request). Libraries that would log secrets stay at WARNING or above whatever the level
(:data:`DATA_LOGGERS`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from idgate.edge.access_log import text_field

if TYPE_CHECKING:
    from idgate.edge.access_log import BatchedAccessLog

__all__ = [
    "DATA_LOGGERS",
    "LOG_FORMATS",
    "JsonFormatter",
    "TextFormatter",
    "batched_access_log",
    "configure_logging",
]

LOG_FORMATS = ("text", "json")

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time``, ``level``, ``logger``, ``message``, then the ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: Loggers whose message already carries every field of the record (the edge's per-request lines, and
#: the start-up steps: "Migrating storage ... done in 0.31 s").
FIELDS_IN_MESSAGE = frozenset({"idgate.access", "idgate.progress"})


def text_value(value: object) -> str:
    """A field's value in a text line: a string that is a plain token as it is, any other string as a
    JSON string (:func:`idgate.edge.access_log.text_field`); other values (numbers, lists) as compact
    JSON."""
    if not isinstance(value, str):
        return json.dumps(value, default=str, separators=(",", ":"))
    return text_field(value)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...``: the message, then the record's ``extra`` fields."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if record.name in FIELDS_IN_MESSAGE:
            return line
        fields = [
            f"{key}={text_value(value)}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        ]
        if not fields:
            return line
        head, nl, rest = line.partition("\n")  # a traceback stays below the line
        return f"{head} {' '.join(fields)}{nl}{rest}"


#: Third-party loggers that would write secrets (SQL parameters, request data) at DEBUG or INFO.
DATA_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncpg", "redis", "ldap3")


def configure_logging(log_format: str = "text", log_level: str = "INFO") -> None:
    """Log to stderr at ``log_level`` (``IDGATE_LOG_LEVEL``; an unknown name is INFO) in ``log_format``
    (``--log-format``, ``IDGATE_LOG_FORMAT``)."""
    level = getattr(logging, log_level.upper(), logging.INFO)
    fmt = log_format.lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (expected one of: {', '.join(LOG_FORMATS)})")
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_idgate", False)]:
        root.removeHandler(old)
    handler._idgate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, level))
    # Libraries that log statement parameters (stored records: signing keys, connector data, state)
    # at DEBUG/INFO: never below WARNING, whatever IDGATE_LOG_LEVEL says (THREAT_MODEL.md, exposure).
    for name in DATA_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))


def batched_access_log(log_format: str) -> BatchedAccessLog | None:
    """The edge's access lines on stderr in ``log_format``, formatted and batched by the edge
    (:class:`~idgate.edge.access_log.BatchedAccessLog`), for a worker of ``idgate serve`` after
    :func:`configure_logging`; ``None`` when ``idgate.access`` does not log INFO (``IDGATE_LOG_LEVEL``
    above it): then no line is written at all."""
    from idgate.edge.access_log import BatchedAccessLog

    if not logging.getLogger("idgate.access").isEnabledFor(logging.INFO):
        return None
    return BatchedAccessLog(2, as_json=log_format.lower() == "json")

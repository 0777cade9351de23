"""Logs on stderr: ``--log-format text`` (the default) writes ``time level logger message``;
``--log-format json`` writes one JSON object per line with the record's ``extra`` fields as keys (a
standard-library formatter: no processor chain on the access log's path). When the edge put a
``request_id`` into an access line's reason, it becomes its own ``request_id`` field.

The level is ``IDGATE_LOG_LEVEL`` (default INFO), read by ``idgate serve`` (:mod:`idgate.cli.serve`)
and handed to :func:`configure_logging`. Libraries that would log secrets stay at WARNING or above
whatever the level (:data:`DATA_LOGGERS`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["DATA_LOGGERS", "LOG_FORMATS", "JsonFormatter", "configure_logging"]

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
        reason = out.get("reason")
        if isinstance(reason, str) and " request_id=" in reason:
            out["reason"], _, out["request_id"] = reason.partition(" request_id=")
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, separators=(",", ":"))


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


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
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
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

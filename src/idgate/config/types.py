"""Building blocks shared by the section models: the strict base model and the value types.

Every model derives from :class:`Strict`: pydantic strict mode (YAML already gives ints, bools and
strings their own types, so ``upstream_port: "9090"`` is an error, not a silent conversion), unknown keys
forbidden (the loader turns them into "unknown key ...; did you mean ...?"), frozen.

Value types raise :class:`pydantic_core.PydanticCustomError` so that the loader can print their message as
it is, after the YAML path. Messages never echo a value that may be a secret.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

__all__ = [
    "AES_KEY_LENGTHS",
    "Duration",
    "Port",
    "Raw",
    "RawList",
    "Strict",
    "cookie_secret_bytes",
    "did_you_mean",
    "format_duration",
    "kind_of",
    "parse_duration",
]

Raw = dict[str, Any]
"""A raw Kubernetes structure (resources, affinity, ...): accepted and kept for rendering."""
RawList = list[Any]

AES_KEY_LENGTHS = (16, 24, 32)


def kind_of(value: object) -> str:
    """A YAML-flavoured name for the type of ``value``, for "expected X, got Y" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'host'?"`` when a choice is close to ``word`` (case-insensitively), else ``""``."""
    by_folded = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(by_folded), n=1, cutoff=0.6)
    return f"; did you mean '{by_folded[close[0]]}'?" if close else ""


class Strict(BaseModel):
    """Base of every config model: strict types, unknown keys are errors, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    # Subclasses may override how an unknown key is explained (``ProxyOptions`` does).
    unknown_key_noun: ClassVar[str] = "key"

    @classmethod
    def known_keys(cls) -> list[str]:
        """The YAML keys this model accepts (aliases where a field has one)."""
        return [f.alias or name for name, f in cls.model_fields.items()]

    @classmethod
    def unknown_key_message(cls, key: str) -> str:
        """The message for an unknown ``key`` in this mapping."""
        known = cls.known_keys()
        hint = did_you_mean(key, known) or f" (expected one of: {', '.join(known)})"
        return f"unknown {cls.unknown_key_noun} '{key}'{hint}"


# --- Go durations -------------------------------------------------------------------------------

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # Go accepts both micro signs
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION_HINT = "expected a Go duration such as 90s, 1h30m or 24h"


def parse_duration(text: str) -> float:
    """Parse a Go duration (``6h``, ``1h30m``, ``90s``, ``1.5h``, ``300ms``, ``0``) into seconds.

    Follows ``time.ParseDuration``: a sequence of decimal numbers each with a unit (``ns``, ``us``/``µs``,
    ``ms``, ``s``, ``m``, ``h``), no spaces; a bare ``0`` is the only number without a unit. Negative
    durations are refused (no idgate setting means anything by them). Raises ``ValueError``.
    """
    if text in ("0", "+0"):
        return 0.0
    body = text[1:] if text.startswith("+") else text
    if text.startswith("-"):
        raise ValueError(f"invalid duration '{text}': must not be negative")
    if not body:
        raise ValueError(f"invalid duration '{text}': {_DURATION_HINT}")
    total, pos = 0.0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise ValueError(f"invalid duration '{text}': {_DURATION_HINT}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", str(exc)) from None
    raise PydanticCustomError(
        "duration", f"expected a duration string such as 90s or 24h, got {kind_of(value)}"
    )


def format_duration(seconds: float) -> str:
    """Seconds as a Go duration that :func:`parse_duration` reads back exactly (``5400`` -> ``1h30m``)."""
    if seconds != int(seconds):
        return f"{seconds:.9f}".rstrip("0") + "s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


Duration = Annotated[
    float, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str, when_used="json")
]
"""A Go duration string in YAML, seconds (float) in the model; dumped as a Go duration in JSON mode."""

Port = Annotated[int, Field(ge=1, le=65535)]


# --- OAuth2-Proxy cookie secrets ----------------------------------------------------------------


def cookie_secret_bytes(secret: str) -> bytes | None:
    """The AES key OAuth2-Proxy derives from a ``cookie_secret`` (the chart's ``encryption_key``).

    OAuth2-Proxy's rule, reproduced: first try to read the text as base64 (URL-safe alphabet, padding
    optional; the standard alphabet is accepted too); if that works **and** gives 16, 24 or 32 bytes, the
    decoded bytes are the key. Otherwise the text itself (UTF-8) is the key if it is 16, 24 or 32 bytes.
    So a 32-character hex string, which is also valid base64, yields 24 decoded bytes, exactly as it does in
    OAuth2-Proxy. Returns ``None`` when neither reading gives a valid AES key length.
    """
    stripped = secret.rstrip("=")
    try:
        decoded = base64.b64decode(stripped + "=" * (-len(stripped) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) in AES_KEY_LENGTHS:
        return decoded
    raw = secret.encode()
    return raw if len(raw) in AES_KEY_LENGTHS else None

"""The embedded demo's protected app (``idgate serve`` without ``--config``, ``idgate.cli.demo``): a page
that shows what an upstream receives from the proxy, served by the worker on ``Settings.demo_upstream``.

It is the first page a person sees after the demo's login, so it is in idgate's one design
(``idgate.web``: light and dark, 320 px wide without scrolling sideways) and shows the identity headers
and the signed ``X-Idgate-Assertion`` decoded: its header and claims, read *without* checking the
signature (the page says so; an app must verify it against ``/oauth/jwks.json``). ``Accept:
application/json`` gets the request as JSON instead.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from idgate.proxy.assertion import ASSERTION_HEADER
from idgate.web import LOGO, Look, environment

__all__ = ["Decoded", "decode_for_display", "upstream_app"]

IDENTITY_HEADERS = (
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Groups",
    "X-Forwarded-Preferred-Username",
)
#: Where a deployment publishes the keys that verify its assertions (``idgate.proxy.web``).
JWKS_PATH = "/oauth/jwks.json"
#: Claims that are times (seconds since the epoch): shown with their date too.
_TIMES = {"iat": "issued", "exp": "expires", "nbf": "not before", "auth_time": "signed in"}

_TEMPLATES = environment(Path(__file__).parent / "templates")
_LOOK = Look(name="Demo app", logo=LOGO)

#: A pair as shown: name, value, and a note after the value (or "").
Row = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A JWT's header and claims as rows to show, or what kept it from being read (``problem``)."""

    header: tuple[Row, ...] = ()
    claims: tuple[Row, ...] = ()
    problem: str = ""


def _part(segment: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value) if value else "(none)"
    return json.dumps(value)


def _rows(doc: dict[str, Any]) -> tuple[Row, ...]:
    rows: list[Row] = []
    for name, value in doc.items():
        note = ""
        if name in _TIMES and isinstance(value, int | float) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            note = f"{_TIMES[name]} {when}"
        rows.append((name, _shown(value), note))
    return tuple(rows)


def decode_for_display(token: str) -> Decoded:
    """The header and claims of the JWT ``token``, decoded for display: the signature is NOT checked."""
    parts = token.strip().split(".")
    if len(parts) != 3:  # header.claims.signature
        return Decoded(problem=f"it has {len(parts)} parts where a JWT has 3")
    try:
        return Decoded(header=_rows(_part(parts[0])), claims=_rows(_part(parts[1])))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return Decoded(problem="its header or claims are not base64url-encoded JSON objects")


async def _show(request: web.Request) -> web.StreamResponse:
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
            }
        )
    token = request.headers.get(ASSERTION_HEADER)
    body = _TEMPLATES.get_template("demo.html").render(
        ui=_LOOK,
        method=request.method,
        target=request.raw_path,
        headers=[(name, request.headers.get(name)) for name in IDENTITY_HEADERS],
        assertion_header=ASSERTION_HEADER,
        assertion=None if token is None else decode_for_display(token),
        jwks=JWKS_PATH,
        request_id=request.headers.get("X-Request-Id", ""),
    )
    return web.Response(text=body, content_type="text/html", headers=dict(_LOOK.headers))


def upstream_app() -> web.Application:
    """The demo's protected app: shows what it receives (HTML, or JSON for ``Accept: application/json``)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _show)
    return app

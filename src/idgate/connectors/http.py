"""What the callback connectors share over HTTP: JSON requests, ``Link`` pagination, OAuth 2.0 code and
refresh-token exchanges, TLS contexts from Dex's CA keys, PKCE and per-login secrets derived from the
``state``. The requests themselves are :mod:`idgate.net`'s (the one owner of aiohttp's client).

Every network or format failure (:class:`~idgate.net.NetError`, a 5xx, an unusable body) becomes
:class:`~idgate.connectors.errors.UpstreamFailed` here, at one boundary; a reason names the endpoint's
purpose ("GitHub /user/orgs"), never a token or code.

**Per-login secrets.** The callback protocol carries only ``state`` from :meth:`login_url` to
:meth:`handle_callback`, and replicas share no memory. So the PKCE verifier (RFC 7636) and the OIDC nonce are
*derived*: ``HMAC-SHA256(key, purpose || state)``, with a key that only the connector holds
(:func:`derive_key`). Knowing ``state`` (it travels through the browser) does not give the verifier.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from idgate.connectors.errors import CallbackInvalid, UpstreamFailed
from idgate.net import BodyTooLarge, HTTPClient, TLSError, TransportError, get_json, post_form

__all__ = [
    "MAX_PAGES",
    "CAError",
    "Response",
    "derive_key",
    "derive_secret",
    "get_pages",
    "next_link",
    "request_json",
    "ssl_context",
    "token_request",
    "upstream_tls",
]

MAX_PAGES = 50  # x 100 per page: more orgs or teams than this is an answer we do not trust


def ssl_context(ca_file: str | None = None, ca_data: str | None = None) -> ssl.SSLContext | None:
    """A verifying TLS context trusting ``ca_file`` / ``ca_data`` (PEM) instead of the system store.

    ``None`` when neither is given (aiohttp then uses the system's trust store). Raises ``OSError`` or
    ``ssl.SSLError`` for an unreadable or malformed CA, which the connector turns into a config error.
    """
    if not ca_file and not ca_data:
        return None
    ctx = ssl.create_default_context(cafile=ca_file or None, cadata=ca_data or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _ca_pem(value: str) -> tuple[str, str]:
    """One ``rootCAs`` entry as PEM text and how it was given, the way Dex reads it
    (``pkg/httpclient``): a readable file, else base64 of PEM, else PEM itself."""
    try:
        return Path(value).read_text(encoding="ascii"), "file"
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    try:
        return base64.b64decode(value, validate=True).decode("ascii"), "base64"
    except (binascii.Error, ValueError):
        return value, "pem"


_CA_PROBLEM = {
    "file": "{} holds no PEM certificate",
    "base64": "base64 data that decodes to no PEM certificate",
    "pem": "neither a readable file, nor base64-encoded PEM, nor a PEM certificate",
}


class CAError(ValueError):
    """A ``rootCAs`` entry (``index``) that holds no certificate."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"rootCAs[{index}]: {message}")
        self.index, self.message = index, message


def upstream_tls(root_cas: Sequence[str] = (), *, skip_verify: bool = False) -> ssl.SSLContext | None:
    """The TLS context for an upstream, from Dex's ``rootCAs`` and ``insecureSkipVerify``.

    ``rootCAs`` entries are *added* to the system trust store (as Dex does); each is a path, base64 of PEM
    or PEM. ``None`` with neither key (aiohttp's default context). Raises ``ValueError`` naming the entry
    (:class:`CAError`, ``rootCAs[1]``) that is none of those.
    """
    cas = [ca for ca in root_cas if ca]
    if not cas and not skip_verify:
        return None
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for i, value in enumerate(root_cas):
        if not value:
            continue
        pem, kind = _ca_pem(value)
        try:
            if "-----BEGIN CERTIFICATE-----" not in pem:
                raise ValueError("no certificate")
            ctx.load_verify_locations(cadata=pem)
        except (ssl.SSLError, ValueError) as exc:
            raise CAError(i, _CA_PROBLEM[kind].format(value)) from exc
    if skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True, slots=True)
class Response:
    """A JSON answer: status, parsed body (``None`` when not JSON) and the headers needed downstream."""

    status: int
    body: Any
    link: str = ""


async def request_json(
    http: HTTPClient,
    method: Literal["GET", "POST"],
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
) -> Response:
    """A ``GET``, or a ``POST`` of the form ``data``, expecting JSON (:func:`idgate.net.get_json`,
    :func:`idgate.net.post_form`: the body read whole, at most :data:`~idgate.net.MAX_RESPONSE_BYTES`).
    A failed request, an answer over the limit and 5xx raise :class:`UpstreamFailed`; 4xx are returned."""
    try:
        if method == "POST":
            reply = await post_form(http, url, data or {}, headers=headers, tls=tls)
        else:
            reply = await get_json(http, url, headers=headers, tls=tls)
    except BodyTooLarge as exc:
        raise UpstreamFailed(f"{what}: {exc}") from exc
    except TLSError as exc:
        reason = "TLS certificate not trusted" if exc.untrusted else f"TLS failed ({exc.cause})"
        raise UpstreamFailed(f"{what}: {reason}") from exc
    except TransportError as exc:
        raise UpstreamFailed(f"{what}: unreachable ({exc.cause})") from exc
    if reply.status >= 500:
        raise UpstreamFailed(f"{what}: answered HTTP {reply.status}")
    return Response(reply.status, reply.json(), reply.headers.get("Link", ""))


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")


def next_link(header: str) -> str | None:
    """The ``rel="next"`` target of an RFC 8288 ``Link`` header (GitHub's and GitLab's pagination)."""
    for match in _LINK.finditer(header):
        params = match.group(2)
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').lower().split():
                return match.group(1)
    return None


async def get_pages(
    http: HTTPClient,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str],
    tls: ssl.SSLContext | None = None,
    same_origin: str = "",
) -> list[Any]:
    """Every item of a paginated JSON list, following ``Link: <...>; rel="next"`` (at most :data:`MAX_PAGES`).

    A next link must stay under ``same_origin`` (when given): a token is never sent to another host.
    """
    items: list[Any] = []
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            return items
        if same_origin and not next_url.startswith(same_origin):
            raise UpstreamFailed(f"{what}: pagination left the API's origin")
        resp = await request_json(http, "GET", next_url, what=what, headers=headers, tls=tls)
        if resp.status != 200 or not isinstance(resp.body, list):
            raise UpstreamFailed(f"{what}: answered HTTP {resp.status}" + _error_hint(resp.body))
        items.extend(resp.body)
        next_url = next_link(resp.link)
    raise UpstreamFailed(f"{what}: more than {MAX_PAGES} pages")


def _error_hint(body: Any) -> str:
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error")
        if isinstance(message, str) and message.isprintable():
            return f" ({message[:120]})"
    return ""


async def token_request(
    http: HTTPClient,
    url: str,
    form: Mapping[str, str],
    *,
    what: str,
    auth: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """POST an RFC 6749 §4.1.3 / §6 token request; the token response as a dict.

    A refused grant (a 4xx, or GitHub's ``200`` with ``{"error": ...}``) raises :class:`CallbackInvalid`
    naming the OAuth error code only; a response without ``access_token`` raises :class:`UpstreamFailed`.
    """
    headers = {"Authorization": auth} if auth else {}
    resp = await request_json(http, "POST", url, what=what, headers=headers, data=form, tls=tls)
    body = resp.body
    error = body.get("error") if isinstance(body, dict) else None
    if resp.status != 200 or error is not None:
        code = error if isinstance(error, str) and error.isascii() and error.isprintable() else "unknown"
        raise CallbackInvalid(f"{what} refused the grant: {code[:64]} (HTTP {resp.status})")
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise UpstreamFailed(f"{what}: token response holds no access_token")
    return body


def derive_key(*parts: str) -> bytes:
    """A connector's key for :func:`derive_secret`: SHA-256 over its secret config values.

    With no secret to derive from (a public upstream client), a random key: logins then work only on the
    replica that started them.
    """
    material = "\x00".join(parts)
    if not any(parts):
        return secrets.token_bytes(32)
    return hashlib.sha256(b"idgate connector login secrets\x00" + material.encode()).digest()


def derive_secret(key: bytes, purpose: str, state: str) -> str:
    """A 43-character URL-safe secret for ``purpose`` (``pkce``, ``nonce``) bound to this ``state``."""
    mac = hmac.new(key, purpose.encode() + b"\x00" + state.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def callback_params(query: Mapping[str, str], upstream: str) -> tuple[str, str]:
    """``(code, state)`` from a callback query; an ``error=`` answer or a missing code raises."""
    error = query.get("error")
    if error:
        safe = error if error.isascii() and error.isprintable() else "unknown"
        desc = query.get("error_description", "")
        hint = f": {desc[:160]}" if desc.isprintable() and desc else ""
        raise CallbackInvalid(f"{upstream} answered {safe[:64]}{hint}")
    code = query.get("code", "")
    if not code:
        raise CallbackInvalid(f"{upstream} sent no authorization code")
    return code, query.get("state", "")

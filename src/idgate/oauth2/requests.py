"""Requests parsed once, into frozen records, before any decision is taken.

The web layer hands over the parameters as ``{name: [values...]}`` (query and form alike); a parameter
sent twice is an error (RFC 6749 §3.1, §3.2), and no value may be longer than :data:`MAX_VALUE`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus

from idgate.oauth2 import scopes as scope_names
from idgate.oauth2.errors import InvalidClient, InvalidRequest

Params = Mapping[str, Sequence[str]]

MAX_VALUE = 4096


def _one(params: Params, name: str) -> str:
    values = params.get(name, ())
    if len(values) > 1:
        raise InvalidRequest(f"parameter {name} is repeated")
    value = values[0] if values else ""
    if len(value) > MAX_VALUE:
        raise InvalidRequest(f"parameter {name} is too long")
    return value


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """``/auth`` parameters (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3)."""

    client_id: str
    redirect_uri: str
    response_type: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    prompt: str = ""
    max_age: str = ""
    connector_id: str = ""  # Dex's ``connector_id``: skip the chooser
    # When the client and redirect_uri are fine but a parameter is repeated or too long, the error
    # found while parsing is kept here and raised, with a redirect, after they are verified.
    problem: str = ""


def parse_authorization_request(params: Params) -> AuthorizationRequest:
    """The authorization request; only ``client_id`` / ``redirect_uri`` problems raise here."""
    client_id = _one(params, "client_id")
    redirect_uri = _one(params, "redirect_uri")
    values: dict[str, str] = {}
    problem = ""
    for name in (
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "connector_id",
    ):
        try:
            values[name] = _one(params, name)
        except InvalidRequest as exc:
            values[name] = ""
            problem = problem or exc.description
    return AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        response_type=values["response_type"],
        scopes=scope_names.parse(values["scope"]),
        state=values["state"],
        nonce=values["nonce"],
        code_challenge=values["code_challenge"],
        code_challenge_method=values["code_challenge_method"],
        prompt=values["prompt"],
        max_age=values["max_age"],
        connector_id=values["connector_id"],
        problem=problem,
    )


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """How the client said who it is at the token endpoint (RFC 6749 §2.3.1)."""

    client_id: str
    secret: str | None  # None: no secret sent (a public client)
    method: str  # "client_secret_basic" | "client_secret_post" | "none"


def parse_basic_authorization(header: str) -> tuple[str, str]:
    """``Basic base64(urlencode(id):urlencode(secret))`` -> ``(id, secret)``; else ``invalid_client``."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        raise InvalidClient("unsupported Authorization scheme")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def parse_client_credentials(authorization: str | None, params: Params) -> ClientCredentials:
    """Credentials from the ``Authorization`` header or the form, never both (RFC 6749 §2.3)."""
    form_id = _one(params, "client_id")
    has_form_secret = "client_secret" in params
    if authorization:
        if has_form_secret:
            raise InvalidRequest("client credentials sent both in the header and in the body")
        client_id, secret = parse_basic_authorization(authorization)
        if form_id and form_id != client_id:
            raise InvalidRequest("client_id in the body differs from the Authorization header")
        return ClientCredentials(client_id, secret, "client_secret_basic")
    if not form_id:
        raise InvalidClient("client authentication required")
    if has_form_secret:
        return ClientCredentials(form_id, _one(params, "client_secret"), "client_secret_post")
    return ClientCredentials(form_id, None, "none")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """Token endpoint parameters (RFC 6749 §4.1.3, §4.3.2, §6; RFC 7636 §4.5; RFC 8628 §3.4);
    credentials parsed apart."""

    grant_type: str
    code: str = ""
    redirect_uri: str = ""
    code_verifier: str = ""
    refresh_token: str = ""
    scope: str = ""  # as sent; "" when absent
    device_code: str = ""
    username: str = ""
    password: str = ""

    @property
    def scopes(self) -> tuple[str, ...]:
        return scope_names.parse(self.scope)


def parse_token_request(params: Params) -> TokenRequest:
    grant_type = _one(params, "grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required")
    return TokenRequest(
        grant_type=grant_type,
        code=_one(params, "code"),
        redirect_uri=_one(params, "redirect_uri"),
        code_verifier=_one(params, "code_verifier"),
        refresh_token=_one(params, "refresh_token"),
        scope=_one(params, "scope"),
        device_code=_one(params, "device_code"),
        username=_one(params, "username"),
        password=_one(params, "password"),
    )


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """An introspection (RFC 7662 §2.1) or revocation (RFC 7009 §2.1) request."""

    token: str
    token_type_hint: str


def parse_token_query(params: Params) -> TokenQuery:
    token = _one(params, "token")
    if not token:
        raise InvalidRequest("token is required")
    return TokenQuery(token, _one(params, "token_type_hint"))


@dataclass(frozen=True, slots=True)
class DeviceAuthorizationRequest:
    """``/device/code`` (RFC 8628 §3.1)."""

    scopes: tuple[str, ...]


def parse_device_authorization(params: Params) -> DeviceAuthorizationRequest:
    return DeviceAuthorizationRequest(scope_names.parse(_one(params, "scope")))


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2)."""

    id_token_hint: str
    client_id: str
    post_logout_redirect_uri: str
    state: str


def parse_logout_request(params: Params) -> LogoutRequest:
    return LogoutRequest(
        id_token_hint=_one(params, "id_token_hint"),
        client_id=_one(params, "client_id"),
        post_logout_redirect_uri=_one(params, "post_logout_redirect_uri"),
        state=_one(params, "state"),
    )


def parse_bearer(authorization: str | None) -> str:
    """The token of ``Authorization: Bearer <token>`` (RFC 6750 §2.1); empty when there is none."""
    if not authorization:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""

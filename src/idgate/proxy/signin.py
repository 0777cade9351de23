"""One deployment's sign-in, without a web framework: :meth:`SignIn.start`, :meth:`SignIn.finish` (a
:class:`~idgate.sessions.base.Session`) and :meth:`SignIn.renew`, plus where sign-out goes next.

The web layer (:mod:`idgate.proxy.web`) parses a request, calls these and renders what they return or
raise (the failures of :mod:`idgate.proxy.failures`, the provider's of :mod:`idgate.oidc.client`); the
edge calls :meth:`SignIn.renew` through the deployment's refresher (:mod:`idgate.proxy.services`).

The steps a sign-in and a refresh share are written once: the ID token verified (:meth:`_claims`:
signature, then claims, with the sign-in's ``nonce`` or, at refresh, none), its claims completed from
UserInfo when the email or groups claim is missing, the session made from them (:func:`session_for`,
:func:`session_from_claims`) and only the tokens a feature needs kept in it (:func:`keep_tokens`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from idgate.oidc.client import IdTokenInvalid, OIDCError, ProviderClient, TokenRequestRefused
from idgate.proxy.csrf import LoginState
from idgate.proxy.failures import LoginStateInvalid, MissingCode, ProviderRefused
from idgate.proxy.redirects import validate_redirect
from idgate.sessions.base import Session
from idgate.sessions.refresh import RefusedRefresh
from idgate.settings import ProxySettings
from idgate.wire import callback_url

__all__ = [
    "ID_TOKEN_HINT_MAX",
    "SignIn",
    "Started",
    "keep_tokens",
    "session_for",
    "session_from_claims",
]

#: The longest ID token kept only to be sent back as ``id_token_hint``: the sign-out URL carries it, and
#: with a longer one that URL passes the 8 KB request line common servers accept (nginx's
#: ``large_client_header_buffers``). Sign-out then names the client only (``client_id``).
ID_TOKEN_HINT_MAX = 4096


def session_from_claims(
    claims: Mapping[str, Any],
    *,
    now: float,
    lifetime: float,
    allow_unverified_email: bool = False,
    email_claim: str = "email",
    groups_claim: str = "groups",
    sid: str = "",
) -> Session:
    """The proxy session for verified claims: needs ``sub`` and an email, and a verified email.

    ``email_claim`` / ``groups_claim`` are ``oidc_email_claim`` / ``oidc_groups_claim``; ``sid`` the
    session's id (a new one at sign-in, the same one at refresh; none for a bearer token).
    """
    sub, email = claims.get("sub"), claims.get(email_claim)
    if not isinstance(sub, str) or not sub:
        raise IdTokenInvalid("sub missing")
    if not isinstance(email, str) or not email:
        raise IdTokenInvalid("email missing")
    verified = claims.get("email_verified") is True
    if not verified and not allow_unverified_email:
        raise IdTokenInvalid("email not verified")
    username = claims.get("preferred_username") or claims.get("name") or ""
    groups = claims.get(groups_claim)
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        groups = []
    return Session(
        user=sub,
        email=email,
        email_verified=verified,
        created_at=now,
        expires_at=now + lifetime,
        preferred_username=username if isinstance(username, str) else "",
        groups=tuple(groups),
        sid=sid,
    )


def session_for(p: ProxySettings, claims: Mapping[str, Any], *, now: float, sid: str) -> Session:
    """The session of deployment ``p`` for verified claims (at sign-in a new ``sid``, at refresh the
    same): ``cookie_expire`` long, with the deployment's claim names and email rule."""
    return session_from_claims(
        claims,
        now=now,
        lifetime=p.cookie_expire,
        allow_unverified_email=p.insecure_allow_unverified_email,
        email_claim=p.oidc_email_claim,
        groups_claim=p.oidc_groups_claim,
        sid=sid,
    )


def keep_tokens(
    p: ProxySettings, session: Session, tokens: Mapping[str, object], *, id_token_hint: bool = False
) -> Session:
    """Keep in the session only the tokens a feature needs (the cookie stays small otherwise).

    ``id_token_hint``: the provider has an ``end_session_endpoint``, so sign-out will send the ID token
    as ``id_token_hint`` (RP-Initiated Logout 1.0 §2), which many providers require; an ID token longer
    than :data:`ID_TOKEN_HINT_MAX` (a person in thousands of groups) is not kept for that alone. Groups are
    always kept: identity headers, ``/oauth/auth`` answers and its ``allowed_groups`` parameter, the
    assertion and ``/oauth/userinfo`` all read them, whatever the deployment's own rules.
    """

    def text(key: str) -> str | None:
        value = tokens.get(key)
        return value if isinstance(value, str) and value else None

    id_token = text("id_token") or session.id_token
    hint = id_token_hint and id_token is not None and len(id_token) <= ID_TOKEN_HINT_MAX
    wants_id_token = hint or p.pass_authorization_header or p.set_authorization_header
    return dataclasses.replace(
        session,
        refresh_token=(text("refresh_token") or session.refresh_token) if p.cookie_refresh > 0 else None,
        access_token=text("access_token") if p.pass_access_token else None,
        id_token=id_token if wants_id_token else None,
    )


def _printable(text: str) -> str:
    return "".join(c for c in text[:64] if c.isascii() and c.isprintable())


def _with_query(endpoint: str, params: Mapping[str, str]) -> str:
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


@dataclass(frozen=True, slots=True)
class Started:
    """A sign-in begun: the provider's authorization URL to send the browser to, and the state that the
    sign-in state cookie carries until the callback."""

    location: str
    login: LoginState


class SignIn:
    """The sign-in steps of deployment ``settings`` against its provider."""

    def __init__(self, settings: ProxySettings, provider: ProviderClient) -> None:
        self.settings = settings
        self.provider = provider

    def target(self, rd: str | None) -> str:
        """The validated post-login target, ``/`` when ``rd`` is absent or refused."""
        if not rd:
            return "/"
        p = self.settings
        return validate_redirect(rd, host=p.host, whitelist_domains=p.whitelist_domains) or "/"

    def redirect_uri(self, proto: str) -> str:
        """``redirect_url``, or the callback on the configured host (never the request's ``Host``): the one
        :func:`~idgate.wire.callback_url`, which ``idgate check`` asks too."""
        return callback_url(self.settings.host, self.settings.redirect_url, proto)

    async def start(self, rd: str | None, *, proto: str, now: float) -> Started:
        """Begin a sign-in that ends at ``rd`` (validated): fresh state, nonce and PKCE verifier, and the
        authorization request (Core §3.1.2.1) that carries them."""
        login = LoginState.new(rd=self.target(rd), now=now)
        meta = await self.provider.metadata()
        p = self.settings
        params = {
            "response_type": "code",
            "client_id": p.client_id,
            "redirect_uri": self.redirect_uri(proto),
            "scope": " ".join(p.scopes),
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": login.code_challenge if p.code_challenge_method == "S256" else login.verifier,
            "code_challenge_method": p.code_challenge_method,
        }
        if p.prompt:
            params["prompt"] = p.prompt
        elif p.approval_prompt == "force":
            params["prompt"] = "consent"
        return Started(_with_query(meta.authorization_endpoint, params), login)

    async def finish(
        self, login: LoginState, query: Mapping[str, str], *, proto: str, now: float, sid: str
    ) -> Session:
        """The session of the sign-in ``login`` (the state cookie's, already opened), from the callback's
        ``query``: state equal (constant time), the code exchanged, the ID token verified; ``sid`` the
        new session's id."""
        if not login.matches(query.get("state", "")):
            raise LoginStateInvalid("state mismatch")
        error = query.get("error")
        if error is not None:
            # After the state check, so the reason is the provider's, for this browser's sign-in.
            why = _printable(query.get("error_description", ""))[:300]
            raise ProviderRefused(f"provider returned error {_printable(error)!r}", error[:100], why)
        code = query.get("code")
        if not code:
            raise MissingCode("no code")
        p = self.settings
        tokens = await self.provider.exchange_code(
            client_id=p.client_id,
            client_secret=p.client_secret,
            code=code,
            redirect_uri=self.redirect_uri(proto),
            verifier=login.verifier,
        )
        claims = await self._claims(tokens["id_token"], tokens.get("access_token"), nonce=login.nonce)
        session = session_for(p, claims, now=now, sid=sid)
        meta = await self.provider.metadata()
        return keep_tokens(p, session, tokens, id_token_hint=meta.end_session_endpoint is not None)

    async def renew(self, session: Session, now: float) -> Session:
        """Refresh ``session`` at the provider; groups and email are read again.

        :class:`RefusedRefresh` (the session ends) when the provider refuses or its answer is invalid;
        :class:`~idgate.oidc.client.ProviderUnavailable` when it cannot be reached (the refresher
        keeps the session for ``refresh_grace``)."""
        p, provider = self.settings, self.provider
        assert session.refresh_token
        try:
            tokens = await provider.refresh(
                client_id=p.client_id, client_secret=p.client_secret, refresh_token=session.refresh_token
            )
            id_token = tokens.get("id_token")
            if isinstance(id_token, str):
                claims = await self._claims(id_token, tokens.get("access_token"), nonce=None)
            else:
                claims = await provider.userinfo(str(tokens.get("access_token", "")))
            if claims.get("sub") != session.user:
                raise IdTokenInvalid("the refreshed identity is another person (sub differs)")
            fresh = session_for(p, claims, now=now, sid=session.sid)
        except TokenRequestRefused as exc:  # invalid_grant and the like
            raise RefusedRefresh(exc.reason) from exc
        except IdTokenInvalid as exc:  # signature, iss, aud, sub, times, email: an invalid answer
            raise RefusedRefresh(f"invalid answer: {exc.reason}") from exc
        kept = {"refresh_token": session.refresh_token, "id_token": session.id_token, **tokens}
        return keep_tokens(p, fresh, kept, id_token_hint=session.id_token is not None)

    async def _claims(self, id_token: str, access_token: object, *, nonce: str | None) -> dict[str, Any]:
        """The claims of a verified ID token (``nonce``: the sign-in's; ``None`` at refresh, Core §12.2),
        completed from UserInfo when the email or groups claim is missing."""
        p = self.settings
        claims = await self.provider.verify(id_token, client_id=p.client_id, nonce=nonce)
        return await self.provider.complete_claims(
            claims, access_token, email_claim=p.oidc_email_claim, groups_claim=p.oidc_groups_claim
        )

    async def end_session_url(self, target: str, proto: str, id_token: str | None) -> str | None:
        """The provider's ``end_session_endpoint`` (RP-Initiated Logout 1.0 §2), returning to ``target``.

        Sends ``id_token_hint`` (the session's ID token, when kept), ``client_id`` and
        ``post_logout_redirect_uri``: the validated target as an absolute URL on the deployment's host,
        which must be registered at the provider (typically ``https://<host>/``). No ``state``: the target
        itself is the return address, so there is nothing to carry.
        """
        try:
            meta = await self.provider.metadata()
        except OIDCError:
            return None
        if not meta.end_session_endpoint:
            return None
        p = self.settings
        back = target if "://" in target else f"{proto}://{p.host}{target}"
        params = {"client_id": p.client_id, "post_logout_redirect_uri": back}
        if id_token:
            params = {"id_token_hint": id_token, **params}
        return _with_query(meta.end_session_endpoint, params)

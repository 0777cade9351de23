"""What one deployment needs at run time besides its settings, shared by the edge and the sign-in app:
its session store, refresher, assertion signer, cookie attributes, provider client and bearer verifier.

Built once per worker by :func:`build_services`; without an HTTP client (some edge tests) there is no
provider client, hence no refresh and no bearer tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from idgate.clock import Clock
from idgate.proxy.assertion import AssertionSigner
from idgate.proxy.bearer import BearerVerifier, build_verifier
from idgate.proxy.cookies import CookiePolicy
from idgate.proxy.oidc_client import IdTokenInvalid, ProviderClient, TokenRequestRefused, session_from_claims
from idgate.sessions import open_store
from idgate.sessions.base import Session, SessionStore
from idgate.sessions.cookie_store import deployment_keys
from idgate.sessions.refresh import Refresher, RefusedRefresh
from idgate.sessions.revocations import Revocations
from idgate.settings import ProxySettings


def deployment_url(p: ProxySettings) -> str:
    """The deployment's own URL (the assertion's ``iss``): ``redirect_url``'s origin, else its host."""
    if p.redirect_url:
        parts = urlsplit(p.redirect_url)
        return f"{parts.scheme}://{parts.netloc}"
    return ("http" if p.cookie_secure is False else "https") + "://" + p.host


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


#: The longest ID token kept only to be sent back as ``id_token_hint``: the sign-out URL carries it, and
#: with a longer one that URL passes the 8 KB request line common servers accept (nginx's
#: ``large_client_header_buffers``). Sign-out then names the client only (``client_id``).
ID_TOKEN_HINT_MAX = 4096


def keep_tokens(
    p: ProxySettings, session: Session, tokens: dict[str, object], *, id_token_hint: bool = False
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


@dataclass(slots=True)
class ProxyServices:
    """One deployment's run-time parts."""

    settings: ProxySettings
    store: SessionStore
    cookies: CookiePolicy
    provider: ProviderClient | None = None
    refresher: Refresher | None = None
    signer: AssertionSigner | None = None
    bearer: BearerVerifier | None = None
    revocations: Revocations = dataclasses.field(default_factory=Revocations)

    async def renew(self, session: Session, now: float) -> Session:
        """Refresh ``session`` at the provider; groups and email are read again.

        :class:`RefusedRefresh` (the session ends) when the provider refuses or its answer is invalid;
        :class:`~idgate.proxy.oidc_client.ProviderUnavailable` when it cannot be reached (the refresher
        keeps the session for ``refresh_grace``)."""
        p, provider = self.settings, self.provider
        assert provider is not None and session.refresh_token
        try:
            tokens = await provider.refresh(
                client_id=p.client_id, client_secret=p.client_secret, refresh_token=session.refresh_token
            )
            id_token = tokens.get("id_token")
            if isinstance(id_token, str):
                claims = await provider.verify(id_token, client_id=p.client_id, nonce=None)
                claims = await provider.complete_claims(
                    claims,
                    tokens.get("access_token"),
                    email_claim=p.oidc_email_claim,
                    groups_claim=p.oidc_groups_claim,
                )
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

    async def close(self) -> None:
        await self.store.close()


def build_services(
    proxies: Sequence[ProxySettings],
    clock: Clock,
    http: aiohttp.ClientSession | None,
    revocations: Revocations | None = None,
) -> dict[str, ProxyServices]:
    """The services of every deployment (one provider client per issuer, bearer issuers included).

    ``revocations``: the process's list of revoked sessions, shared by every deployment (a private,
    empty one when not given)."""
    revocations = revocations if revocations is not None else Revocations()
    providers: dict[str, ProviderClient] = {}
    out: dict[str, ProxyServices] = {}

    def client(issuer: str) -> ProviderClient:
        assert http is not None
        found = providers.get(issuer)
        if found is None:
            found = providers[issuer] = ProviderClient(issuer, http, clock)
        return found

    for p in proxies:
        provider = client(p.issuer_url) if http else None
        if http is not None:
            for issuer, _ in p.extra_jwt_issuers:
                client(issuer)
        services = ProxyServices(
            settings=p,
            store=open_store(p, clock, revocations),
            cookies=CookiePolicy.of(p),
            provider=provider,
            signer=AssertionSigner(deployment_keys(p), issuer=deployment_url(p), audience=p.upstream)
            if p.pass_idgate_assertion
            else None,
            revocations=revocations,
        )
        if provider is not None:
            services.bearer = build_verifier(p, providers)
        if provider is not None and p.cookie_refresh > 0:
            services.refresher = Refresher(
                services.store, services.renew, p.cookie_refresh, p.name, p.refresh_grace
            )
        out[p.name] = services
    return out

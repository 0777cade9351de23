"""What one deployment needs at run time besides its settings, shared by the edge and the sign-in app:
its session store, refresher, assertion signer, cookie attributes and provider client.

Built once per worker by :func:`build_services`; without an HTTP client (some edge tests) there is no
provider client, hence no refresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from idgate.clock import Clock
from idgate.proxy.assertion import AssertionSigner
from idgate.proxy.cookies import CookiePolicy
from idgate.proxy.oidc_client import ProviderClient, TokenRequestRefused, session_from_claims
from idgate.sessions import open_store
from idgate.sessions.base import Session, SessionStore
from idgate.sessions.refresh import Refresher, RefusedRefresh
from idgate.sessions.store import deployment_keys
from idgate.settings import ProxySettings


def deployment_url(p: ProxySettings) -> str:
    """The deployment's own URL (the assertion's ``iss``): ``redirect_url``'s origin, else its host."""
    if p.redirect_url:
        parts = urlsplit(p.redirect_url)
        return f"{parts.scheme}://{parts.netloc}"
    return ("http" if p.cookie_secure is False else "https") + "://" + p.host


def keep_tokens(p: ProxySettings, session: Session, tokens: dict[str, object]) -> Session:
    """Keep in the session only the tokens a feature needs (the cookie stays small otherwise)."""

    def text(key: str) -> str | None:
        value = tokens.get(key)
        return value if isinstance(value, str) and value else None

    return dataclasses.replace(
        session,
        refresh_token=(text("refresh_token") or session.refresh_token) if p.cookie_refresh > 0 else None,
        access_token=text("access_token") if p.pass_access_token else None,
        id_token=text("id_token") if (p.pass_authorization_header or p.set_authorization_header) else None,
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

    async def renew(self, session: Session, now: float) -> Session:
        """Refresh ``session`` at the provider; groups and email are read again."""
        p, provider = self.settings, self.provider
        assert provider is not None and session.refresh_token
        try:
            tokens = await provider.refresh(
                client_id=p.client_id, client_secret=p.client_secret, refresh_token=session.refresh_token
            )
            id_token = tokens.get("id_token")
            if isinstance(id_token, str):
                claims = await provider.verify(id_token, client_id=p.client_id, nonce=None)
            else:
                claims = await provider.userinfo(str(tokens.get("access_token", "")))
        except TokenRequestRefused as exc:
            raise RefusedRefresh(exc.reason) from exc
        if claims.get("sub") != session.user:
            raise RefusedRefresh("the refreshed identity is another person")
        fresh = session_from_claims(
            claims,
            now=now,
            lifetime=p.cookie_expire,
            allow_unverified_email=p.insecure_allow_unverified_email,
            email_claim=p.oidc_email_claim,
            groups_claim=p.oidc_groups_claim,
        )
        return keep_tokens(p, fresh, {"refresh_token": session.refresh_token, **tokens})

    async def close(self) -> None:
        await self.store.close()


def build_services(
    proxies: Sequence[ProxySettings], clock: Clock, http: aiohttp.ClientSession | None
) -> dict[str, ProxyServices]:
    """The services of every deployment (one provider client per issuer)."""
    providers: dict[str, ProviderClient] = {}
    out: dict[str, ProxyServices] = {}
    for p in proxies:
        provider = (
            providers.setdefault(p.issuer_url, ProviderClient(p.issuer_url, http, clock)) if http else None
        )
        services = ProxyServices(
            settings=p,
            store=open_store(p, clock),
            cookies=CookiePolicy.of(p),
            provider=provider,
            signer=AssertionSigner(deployment_keys(p), issuer=deployment_url(p), audience=p.upstream)
            if p.pass_idgate_assertion
            else None,
        )
        if provider is not None and p.cookie_refresh > 0:
            services.refresher = Refresher(services.store, services.renew, p.cookie_refresh)
        out[p.name] = services
    return out

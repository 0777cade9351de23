"""What one deployment needs at run time besides its settings, shared by the edge and the sign-in app:
its session store, sign-in (and so its refresher), assertion signer, cookie attributes and bearer
verifier. Framework-free wiring: the HTTP client is handed in.

Built once per worker by :func:`build_services`; without an HTTP client (some edge tests) there is no
provider client, hence no sign-in, no refresh and no bearer tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from idgate.clock import Clock
from idgate.net import HTTPClient
from idgate.oidc.client import ProviderClient
from idgate.proxy.assertion import AssertionSigner
from idgate.proxy.bearer import BearerVerifier, build_verifier
from idgate.proxy.cookies import CookiePolicy
from idgate.proxy.signin import SignIn
from idgate.sessions import open_store
from idgate.sessions.base import SessionStore
from idgate.sessions.cookie_store import deployment_keys
from idgate.sessions.refresh import Refresher
from idgate.sessions.revocations import Revocations
from idgate.settings import ProxySettings


def deployment_url(p: ProxySettings) -> str:
    """The deployment's own URL (the assertion's ``iss``): ``redirect_url``'s origin, else its host."""
    if p.redirect_url:
        parts = urlsplit(p.redirect_url)
        return f"{parts.scheme}://{parts.netloc}"
    return ("http" if p.cookie_secure is False else "https") + "://" + p.host


@dataclass(slots=True)
class ProxyServices:
    """One deployment's run-time parts."""

    settings: ProxySettings
    store: SessionStore
    cookies: CookiePolicy
    signin: SignIn | None = None
    refresher: Refresher | None = None
    signer: AssertionSigner | None = None
    bearer: BearerVerifier | None = None
    revocations: Revocations = dataclasses.field(default_factory=Revocations)

    async def close(self) -> None:
        await self.store.close()


def build_services(
    proxies: Sequence[ProxySettings],
    clock: Clock,
    http: HTTPClient | None,
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
            signin=SignIn(p, provider) if provider is not None else None,
            signer=AssertionSigner(deployment_keys(p), issuer=deployment_url(p), audience=p.upstream)
            if p.pass_idgate_assertion
            else None,
            revocations=revocations,
        )
        if provider is not None:
            services.bearer = build_verifier(p, providers)
        if services.signin is not None and p.cookie_refresh > 0:
            services.refresher = Refresher(
                services.store, services.signin.renew, p.cookie_refresh, p.name, p.refresh_grace
            )
        out[p.name] = services
    return out

"""idgate's proxy in front of a provider that is not idgate: the certified ``oidc-provider`` (npm).

How the parts fit together:

- ``op.mjs`` runs ``oidc-provider`` (pinned in ``package-lock.json`` at the repository root) on a
  free loopback port as ``http://idp.localhost:<port>``, with one confidential client for the proxy
  (PKCE required) and one account whose claims hold ``email``, ``email_verified`` and ``groups`` (a
  custom claim behind the ``groups`` scope). Its development login and consent pages are real HTML
  forms that the scripted browser (``tests/e2e/browser.py``) fills in.
- ``conftest.start_proxy_world`` runs ``idgate serve`` with a values file that has no ``dex:`` section
  at all: only ``iap:`` with ``oidc_issuer_url`` pointing at ``oidc-provider`` and one deployment whose
  upstream is the recording server of the end-to-end tests.

So the proxy does discovery, the authorization request with PKCE S256, the code exchange with
``client_secret_basic`` and the ID token validation against a provider it has never seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from tests.e2e.browser import Browser, Hop
from tests.e2e.harness import Upstream
from tests.interop.conftest import (
    ACCOUNT,
    ACCOUNT_ID,
    ProxyWorld,
    start_proxy_world,
    stop_proxy_world,
)
from tests.interop.flows import bounded, chain

pytestmark = pytest.mark.e2e


def at_provider(hop: Hop, world: ProxyWorld, what: str) -> Hop:
    assert hop.status == 200 and hop.url.startswith(world.issuer + "/interaction/"), (
        f"expected oidc-provider's {what} page, got {hop.url} {hop.status}:\n{hop.body[:800]}"
    )
    return hop


async def sign_in(b: Browser, world: ProxyWorld, path: str = "/") -> list[Hop]:
    """From the protected app to ``oidc-provider``'s login and consent pages and back."""
    hops = await b.get(world.url(path))
    assert urlsplit(hops[0].location or "").path == "/oauth/start", chain(hops)
    login = at_provider(hops[-1], world, "login")
    hops = await b.submit(login, {"login": ACCOUNT_ID, "password": "anything"})
    if hops[-1].url.startswith(world.issuer):  # first visit: consent to the scopes
        hops = await b.submit(at_provider(hops[-1], world, "consent"), {})
    return hops


@bounded()
async def test_sign_in_at_oidc_provider_reaches_upstream_with_its_claims(
    proxy_world: ProxyWorld, upstream: Upstream
) -> None:
    upstream.clear()
    async with Browser() as b:
        hops = await sign_in(b, proxy_world, "/d/abc?orgId=1")
        assert hops[-1].status == 200, (chain(hops), hops[-1].body[:800], proxy_world.idgate.output()[-3000:])
        assert hops[-1].url == proxy_world.url("/d/abc?orgId=1")

    seen = upstream.seen[-1]
    assert seen.target == "/d/abc?orgId=1"
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers["x-forwarded-user"] == ACCOUNT_ID
    assert headers["x-forwarded-email"] == ACCOUNT["email"]
    assert headers["x-forwarded-groups"] == ",".join(ACCOUNT["groups"])
    assert headers["x-forwarded-preferred-username"] == ACCOUNT["preferred_username"]


@bounded()
async def test_forged_identity_headers_are_stripped(proxy_world: ProxyWorld, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, proxy_world)
        upstream.clear()
        forged = {
            "X-Forwarded-Email": "ceo@example.org",
            "x_forwarded_user": "ceo",
            "X-Forwarded-Groups": "admins",
            "X-Auth-Request-Email": "ceo@example.org",
        }
        hops = await b.get(proxy_world.url("/api/dashboards"), headers=forged)
        assert hops[-1].status == 200, chain(hops)
    (seen,) = upstream.seen
    values = {k.lower().replace("_", "-"): v for k, v in seen.headers.items()}
    assert values["x-forwarded-email"] == ACCOUNT["email"]
    assert values["x-forwarded-user"] == ACCOUNT_ID
    assert values["x-forwarded-groups"] == ",".join(ACCOUNT["groups"])
    assert "x-auth-request-email" not in values
    assert "ceo" not in " ".join(seen.headers.values())


@bounded()
async def test_forged_identity_headers_without_session_go_to_sign_in(
    proxy_world: ProxyWorld, upstream: Upstream
) -> None:
    upstream.clear()
    async with Browser() as b:
        hops = await b.get(
            proxy_world.url("/"), headers={"X-Forwarded-Email": ACCOUNT["email"]}, follow=False
        )
    assert hops[0].status == 302 and urlsplit(hops[0].location or "").path == "/oauth/start"
    assert upstream.seen == []


@bounded()
async def test_sign_out_ends_the_proxy_session(proxy_world: ProxyWorld, upstream: Upstream) -> None:
    async with Browser() as b:
        await sign_in(b, proxy_world)
        hops = await b.get(proxy_world.url("/oauth/sign_out"), follow=False)
        assert hops[0].status == 302, chain(hops)
        upstream.clear()
        hops = await b.get(proxy_world.url("/"), follow=False)
        assert hops[0].status == 302 and urlsplit(hops[0].location or "").path == "/oauth/start"
    assert upstream.seen == []


@bounded()
async def test_sign_out_ends_the_provider_session_too(proxy_world: ProxyWorld) -> None:
    """oidc-provider offers ``end_session_endpoint``, so signing out of the proxy signs out there too."""
    async with Browser() as b:
        await sign_in(b, proxy_world)
        out = (await b.get(proxy_world.url("/oauth/sign_out"), follow=False))[0]
        assert out.status == 302
        went_to = urljoin(out.url, out.location or "")
        if went_to.startswith(proxy_world.issuer):
            hops = await b.get(went_to)
            if hops[-1].url.startswith(proxy_world.issuer) and 'name="xsrf"' in hops[-1].body:
                # oidc-provider asks the person to confirm ("Yes, sign me out")
                hops = await b.submit(hops[-1], {"logout": "yes"})
        # the next visit must meet oidc-provider's login page, not a silent sign-in by its session
        hops = await b.get(proxy_world.url("/"))
        assert hops[-1].url.startswith(proxy_world.issuer + "/interaction/"), (
            f"/oauth/sign_out redirected to {went_to}, not to the provider's end_session_endpoint "
            f"({proxy_world.issuer}/session/end), so oidc-provider signed the browser in again "
            f"silently: {chain(hops)}"
        )
        assert 'name="password"' in hops[-1].body, chain(hops)


@pytest.fixture
def userinfo_world(node: str, upstream: Upstream, tmp_path: Path) -> Iterator[ProxyWorld]:
    """``oidc-provider`` with its default ``conformIdTokenClaims``: email and groups only at userinfo."""
    world = start_proxy_world(node, upstream, tmp_path, id_token_claims=False)
    yield world
    stop_proxy_world(world)


@bounded()
async def test_claims_served_only_by_userinfo_still_sign_in(
    userinfo_world: ProxyWorld, upstream: Upstream
) -> None:
    """OIDC Core §5.4: with an access token issued, scope claims may come from userinfo only."""
    upstream.clear()
    async with Browser() as b:
        hops = await sign_in(b, userinfo_world)
        said = [line for line in userinfo_world.idgate.output().splitlines() if "/oauth/callback" in line]
        assert hops[-1].status == 200, (chain(hops), said)
    headers = {k.lower(): v for k, v in upstream.seen[-1].headers.items()}
    assert headers["x-forwarded-email"] == ACCOUNT["email"]
    assert headers["x-forwarded-groups"] == ",".join(ACCOUNT["groups"])

"""idgate's ``oidc`` connector against ``oidc-provider`` (a certified OpenID Provider): people log in
to idgate's provider through "any upstream OIDC provider", then reach a protected app through idgate's
proxy. The values file is the KKP example with a Dex ``type: oidc`` connector, keys as Dex spells them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream, free_port, local_values, start_idgate, stop_idgate
from tests.interop.conftest import ACCOUNT, ACCOUNT_ID, NodeServer, start_op, stop_op
from tests.interop.flows import bounded, chain

from idgate.oidc.subject import encode_subject

pytestmark = pytest.mark.e2e

CLIENT_ID = "idgate-connector"
CLIENT_SECRET = "idgate-connector-secret-0b7e5d"


@pytest.fixture(scope="module")
def world(
    node: str, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Running, NodeServer, str]]:
    tmp = tmp_path_factory.mktemp("oidc-connector")
    port, op_port = free_port(), free_port()
    issuer = f"http://idp.localhost:{op_port}"
    callback = f"http://kkp.localhost:{port}/dex/callback"
    op = start_op(
        node,
        {
            "issuer": issuer,
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [callback],
            },
            "account": ACCOUNT,
        },
        op_port,
        tmp / "oidc-provider.log",
    )
    values = local_values(port, upstream.port, tmp / "data")
    values["dex"].pop("staticPasswords")
    values["dex"]["connectors"] = [
        {
            "type": "oidc",
            "id": "corp",
            "name": "Corporate SSO",
            "config": {
                "issuer": issuer,
                "clientID": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
                "redirectURI": callback,
                "scopes": ["openid", "email", "profile", "groups"],
                "insecureEnableGroups": True,
            },
        }
    ]
    config = tmp / "values.yaml"
    config.write_text(yaml.safe_dump(values))
    try:
        running = start_idgate(["serve", "--config", str(config)], port, tmp / "idgate.log")
    except BaseException:
        stop_op(op)
        raise
    yield running, op, issuer
    try:
        assert stop_idgate(running) == 0, running.output()
    finally:
        stop_op(op)


@bounded()
async def test_login_through_oidc_provider_reaches_the_protected_app(
    world: tuple[Running, NodeServer, str], upstream: Upstream
) -> None:
    running, _op, issuer = world
    upstream.clear()
    async with Browser() as b:
        hops = await b.get(running.url("grafana", "/d/home?orgId=1"))
        login = hops[-1]
        assert login.status == 200 and login.url.startswith(issuer + "/interaction/"), chain(hops)
        hops = await b.submit(login, {"login": ACCOUNT_ID, "password": "anything"})
        if hops[-1].url.startswith(issuer):  # oidc-provider asks for consent on the first visit
            hops = await b.submit(hops[-1], {})
        assert hops[-1].status == 200, (chain(hops), hops[-1].body[:500], running.output()[-3000:])
        assert hops[-1].url == running.url("grafana", "/d/home?orgId=1")
        assert any(h.url.startswith(f"http://kkp.localhost:{running.port}/dex/callback") for h in hops)

    headers = upstream.seen[-1].headers
    assert headers["X-Forwarded-Email"] == ACCOUNT["email"]
    # sub as Dex encodes it: the upstream's subject and the connector id
    assert headers["X-Forwarded-User"] == encode_subject(ACCOUNT_ID, "corp")
    assert set(headers["X-Forwarded-Groups"].split(",")) == set(ACCOUNT["groups"])

"""The callback-connector conformance suite: every connector that sends the browser upstream (GitHub, GitLab,
Google, OIDC) runs these by subclassing :class:`CallbackConnectorConformance` and providing two fixtures:

- ``connector``: the connector under test, pointed at a local fake of its upstream;
- ``upstream``: an :class:`Upstream` driving that fake (who logs in, taking access away).

Capabilities a connector may lack are separate mixins, so a suite never skips: add
:class:`RefusesPeople` when the connector has rules of its own (orgs, hosted domains...), and
:class:`Refreshes` when it implements ``RefreshConnector``.

The browser's part is played by :func:`sign_in`: it follows ``login_url`` to the fake, which logs the chosen
person in at once and redirects to the callback; the callback's query is handed to ``handle_callback``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from idgate.connectors.base import CallbackConnector, Connector, Identity, RefreshConnector
from idgate.connectors.errors import CallbackInvalid, ConnectorError, LoginRefused

CALLBACK = "https://idgate.example.com/dex/callback"
#: Addresses an upstream may send that idgate must not assert (:mod:`idgate.connectors.email`).
UNUSABLE_EMAILS = [
    "attacker@evil.com@example.com",
    '"attacker@evil.com"@example.com',
    "alice@example.com\r\nX-Forwarded-Email: ceo@example.com",
    "alice@example.com ",
    "alice@exa\u200bmple.com",
    "alice@[192.0.2.1]",
    "alice@evil.com,ceo@example.com",
]
SCOPES = ("openid", "email", "profile", "groups", "offline_access")


class Upstream(Protocol):
    """What the suite needs from a fake upstream."""

    expected_user_id: str
    expected_email: str
    expected_groups: tuple[str, ...]

    def allow(self) -> None:
        """The next login upstream is a person the connector's rules let in."""

    def refuse(self) -> None:
        """The next login upstream is a person the connector's rules refuse (not in the org/domain...)."""

    def lose_access(self) -> None:
        """The allowed person loses what let them in (membership, or their token is revoked)."""

    def send_email(self, email: str) -> None:
        """From now on the upstream says the allowed person's email is ``email``, verified."""


async def sign_in(
    connector: Any, state: str = "state-0123456789", scopes: tuple[str, ...] = SCOPES
) -> dict[str, str]:
    """Play the browser: follow ``login_url`` to the upstream and return the callback's query."""
    url = connector.login_url(scopes, CALLBACK, state)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as browser,
        browser.get(url, allow_redirects=False) as resp,
    ):
        assert resp.status in (302, 303), f"upstream authorize answered {resp.status}"
        location = resp.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return dict(parse_qsl(urlsplit(location).query))


class CallbackConnectorConformance:
    """Behaviour every callback connector shares. Subclasses override the two fixtures."""

    refresh_supported: ClassVar[bool] = False  # set by the Refreshes mixin

    @pytest.fixture
    async def connector(self) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield

    @pytest.fixture
    def upstream(self) -> Upstream:
        raise NotImplementedError

    async def _login(self, connector: Any, upstream: Upstream) -> Identity:
        upstream.allow()
        query = await sign_in(connector)
        identity = await connector.handle_callback(SCOPES, CALLBACK, query)
        assert isinstance(identity, Identity)
        return identity

    async def test_implements_the_callback_protocol(self, connector: Any) -> None:
        assert isinstance(connector, Connector)
        assert isinstance(connector, CallbackConnector)
        assert isinstance(connector, RefreshConnector) == self.refresh_supported
        assert connector.id and connector.name

    async def test_state_comes_back_unchanged(self, connector: Any, upstream: Upstream) -> None:
        upstream.allow()
        query = await sign_in(connector, state="s-Ab_9.~x")
        assert query["state"] == "s-Ab_9.~x"
        assert query.get("code")

    async def test_allowed_person_gets_an_identity(self, connector: Any, upstream: Upstream) -> None:
        identity = await self._login(connector, upstream)
        assert identity.user_id == upstream.expected_user_id
        assert identity.email == upstream.expected_email
        assert identity.email_verified is True
        assert identity.username

    async def test_groups(self, connector: Any, upstream: Upstream) -> None:
        identity = await self._login(connector, upstream)
        assert set(upstream.expected_groups) <= set(identity.groups), identity.groups

    async def test_upstream_error_answer_is_invalid_callback(self, connector: Any) -> None:
        query: Mapping[str, str] = {"error": "access_denied", "state": "state-0123456789"}
        with pytest.raises(CallbackInvalid, match="access_denied"):
            await connector.handle_callback(SCOPES, CALLBACK, query)

    async def test_callback_without_code_is_invalid(self, connector: Any) -> None:
        with pytest.raises(CallbackInvalid):
            await connector.handle_callback(SCOPES, CALLBACK, {"state": "state-0123456789"})

    @pytest.mark.parametrize("email", UNUSABLE_EMAILS)
    async def test_an_unusable_email_refuses_the_login(
        self, connector: Any, upstream: Upstream, email: str
    ) -> None:
        """``attacker@evil.com@example.com`` with ``email_verified: true`` must not become a verified
        address of example.com (nor anything else) in idgate's ID token."""
        upstream.allow()
        upstream.send_email(email)
        query = await sign_in(connector)
        with pytest.raises(LoginRefused, match="sent an email address idgate cannot use") as err:
            await connector.handle_callback(SCOPES, CALLBACK, query)
        assert "evil" not in err.value.reason and "ceo" not in err.value.reason

    async def test_a_code_works_once(self, connector: Any, upstream: Upstream) -> None:
        upstream.allow()
        query = await sign_in(connector)
        await connector.handle_callback(SCOPES, CALLBACK, query)
        with pytest.raises(ConnectorError):
            await connector.handle_callback(SCOPES, CALLBACK, query)


class RefusesPeople(CallbackConnectorConformance):
    """For connectors with rules of their own: a person outside them is refused with a reason."""

    async def test_refused_person_is_told_why(self, connector: Any, upstream: Upstream) -> None:
        upstream.refuse()
        query = await sign_in(connector)
        with pytest.raises(LoginRefused) as err:
            await connector.handle_callback(SCOPES, CALLBACK, query)
        assert err.value.status == 403
        assert len(err.value.reason) > 10


class Refreshes(CallbackConnectorConformance):
    """For connectors that implement ``RefreshConnector``."""

    refresh_supported: ClassVar[bool] = True

    async def test_refresh_keeps_the_person(self, connector: Any, upstream: Upstream) -> None:
        identity = await self._login(connector, upstream)
        again = await connector.refresh(SCOPES, identity)
        assert again.user_id == identity.user_id
        assert set(upstream.expected_groups) <= set(again.groups)

    async def test_refresh_refuses_after_access_is_lost(self, connector: Any, upstream: Upstream) -> None:
        identity = await self._login(connector, upstream)
        upstream.lose_access()
        with pytest.raises(LoginRefused):
            await connector.refresh(SCOPES, identity)

    async def test_refresh_refuses_an_email_turned_unusable(self, connector: Any, upstream: Upstream) -> None:
        identity = await self._login(connector, upstream)
        upstream.send_email("attacker@evil.com@example.com")
        with pytest.raises(LoginRefused, match="sent an email address idgate cannot use"):
            await connector.refresh(SCOPES, identity)

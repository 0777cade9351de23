"""The password-connector conformance suite: every connector that checks a name and password the provider's
form collected (local, LDAP) runs these by subclassing :class:`PasswordConnectorConformance` and providing
two fixtures:

- ``connector``: the connector under test;
- ``directory``: a :class:`Directory` over where it looks people up (storage for ``local``, a real slapd
  for LDAP), through which the suite adds, changes and removes people.

Every connector here is also a refresh connector: a refresh reads the person again, so a changed name or
changed groups show at the next refresh, and a removed person is refused. Groups are a mixin,
:class:`HasGroups`, for connectors whose directory holds them (``local`` users have none), so a suite never
skips.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pytest

from idgate.connectors.base import CallbackConnector, Connector, Identity, PasswordConnector, RefreshConnector
from idgate.connectors.errors import LoginRefused

SCOPES = ("openid", "email", "profile", "groups", "offline_access")
NO_GROUPS = ("openid", "email", "profile", "offline_access")


@dataclass(frozen=True)
class Person:
    """Someone the directory knows: what they type (``login``, ``password``) and what a login must say
    about them (``user_id``, ``email``, ``name`` as the identity's ``username``, ``groups``)."""

    login: str
    password: str
    user_id: str
    email: str
    name: str
    groups: tuple[str, ...] = ()


class Directory(Protocol):
    """What the suite needs from the place a connector looks people up."""

    async def add(self, groups: tuple[str, ...] = ()) -> Person:
        """A new person with a password of their own, member of ``groups`` (where there are groups)."""

    async def rename(self, person: Person, name: str) -> None:
        """From now on the person's name (the identity's ``username``) is ``name``."""

    async def set_groups(self, person: Person, groups: tuple[str, ...]) -> None:
        """From now on the person is a member of ``groups`` and of no other."""

    async def remove(self, person: Person) -> None:
        """The person is gone from the directory."""


class PasswordConnectorConformance:
    """Behaviour every password connector shares. Subclasses override the two fixtures."""

    #: The groups the people the suite adds are members of (none where the directory has no groups).
    groups: ClassVar[tuple[str, ...]] = ()

    @pytest.fixture
    async def connector(self) -> AsyncIterator[Any]:
        raise NotImplementedError
        yield

    @pytest.fixture
    async def directory(self) -> AsyncIterator[Directory]:
        raise NotImplementedError
        yield

    async def _login(self, connector: Any, person: Person, scopes: tuple[str, ...] = SCOPES) -> Identity:
        identity = await connector.login(scopes, person.login, person.password)
        assert isinstance(identity, Identity), f"{person.login} could not log in"
        return identity

    async def test_implements_the_password_and_refresh_protocols(self, connector: Any) -> None:
        assert isinstance(connector, Connector) and connector.id and connector.name
        assert isinstance(connector, PasswordConnector) and connector.prompt
        assert isinstance(connector, RefreshConnector)
        assert not isinstance(connector, CallbackConnector)

    async def test_the_right_password_gives_the_person(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        identity = await self._login(connector, person)
        assert (identity.user_id, identity.email, identity.username) == (
            person.user_id,
            person.email,
            person.name,
        )
        assert identity.email_verified is True

    async def test_a_wrong_password_is_no_login(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        assert await connector.login(SCOPES, person.login, person.password + "x") is None
        assert await connector.login(SCOPES, person.login, person.password.upper()) is None

    async def test_an_unknown_user_is_no_login(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        assert await connector.login(SCOPES, "nobody-" + person.login, person.password) is None

    async def test_an_empty_password_is_refused(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        assert await connector.login(SCOPES, person.login, "") is None
        assert await connector.login(SCOPES, "", "") is None

    async def test_groups_only_with_the_groups_scope(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        assert set((await self._login(connector, person, SCOPES)).groups) == set(person.groups)
        assert (await self._login(connector, person, NO_GROUPS)).groups == ()

    async def test_refresh_keeps_the_person(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        identity = await self._login(connector, person)
        assert await connector.refresh(SCOPES, identity) == identity

    async def test_refresh_reads_a_changed_name(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        identity = await self._login(connector, person)
        await directory.rename(person, "Renamed Person")
        again = await connector.refresh(SCOPES, identity)
        assert (again.user_id, again.email, again.username) == (
            person.user_id,
            person.email,
            "Renamed Person",
        )

    async def test_refresh_refuses_a_removed_person(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        identity = await self._login(connector, person)
        await directory.remove(person)
        with pytest.raises(LoginRefused):
            await connector.refresh(SCOPES, identity)
        assert await connector.login(SCOPES, person.login, person.password) is None


class HasGroups(PasswordConnectorConformance):
    """For connectors whose directory holds groups: the people the suite adds are members of two."""

    groups: ClassVar[tuple[str, ...]] = ("conformance-readers", "conformance-writers")

    async def test_refresh_reads_changed_groups(self, connector: Any, directory: Directory) -> None:
        person = await directory.add(self.groups)
        identity = await self._login(connector, person)
        assert set(identity.groups) == set(self.groups)
        await directory.set_groups(person, ("conformance-writers",))
        assert (await connector.refresh(SCOPES, identity)).groups == ("conformance-writers",)
        await directory.set_groups(person, ())
        assert (await connector.refresh(SCOPES, identity)).groups == ()

    async def test_refresh_without_the_groups_scope_reads_no_groups(
        self, connector: Any, directory: Directory
    ) -> None:
        person = await directory.add(self.groups)
        identity = await self._login(connector, person, NO_GROUPS)
        assert (await connector.refresh(NO_GROUPS, identity)).groups == ()

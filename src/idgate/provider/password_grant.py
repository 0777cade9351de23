"""The provider's side of the ``password`` grant (RFC 6749 §4.3; Dex's ``oauth2.passwordConnector``): who
the connector says the person is, checked as the password form checks it.

The grant (:mod:`idgate.oauth2.grants.password`) calls :meth:`PasswordGrantLogin.login` through its
context's ``password_login``. The attempt is throttled on the form's counters (:mod:`.throttle`; the
address is not known here, so only the account's counter applies), refused after the same delay, and a
user with a second factor (:mod:`.second_factor`) is refused: the grant has no step for a code. A
connector that cannot check the password answers ``temporarily_unavailable`` and nothing is counted.
A refused attempt is logged like the form's (``event: login``, its ``result``, the ``login`` name typed,
never the password), without ``client_ip``: the edge answers the token endpoint itself and does not hand
the address down this far.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from idgate.connectors.base import Connector, PasswordConnector
from idgate.connectors.errors import LoginRefused, UpstreamFailed
from idgate.oauth2.errors import InvalidGrant, TemporarilyUnavailable
from idgate.provider import second_factor
from idgate.provider.connectors import claims_of
from idgate.provider.login import typed_login
from idgate.provider.throttle import Throttle, Throttled
from idgate.storage.base import Claims, Storage

log = logging.getLogger("idgate.provider")


class PasswordGrantLogin:
    """Logins of the ``password`` grant through the connector ``connector_id``."""

    def __init__(
        self, connector_id: str, connectors: Mapping[str, Connector], throttle: Throttle, storage: Storage
    ) -> None:
        self.connector_id = connector_id
        self.connectors = connectors
        self.throttle = throttle
        self.storage = storage

    async def login(
        self, scopes: tuple[str, ...], username: str, password: str
    ) -> tuple[str, Claims, str] | None:
        """The connector's id, the person's claims and its connector data; ``None`` when refused."""
        connector = self.connectors.get(self.connector_id)
        if not isinstance(connector, PasswordConnector):
            return None
        started = self.throttle.started()
        counted = await self.throttle.counted_as(connector, username)
        failed = {"connector_id": connector.id, "event": "login", "login": typed_login(username)}
        try:
            await self.throttle.check(counted, "")
        except Throttled:
            log.warning("password grant throttled", extra={**failed, "result": "throttled"})
            await self.throttle.fail_slowly(started)
            return None
        try:
            identity = await connector.login(scopes, username, password)
        except LoginRefused as exc:  # the password was right, the account is not usable (its email ...)
            log.warning("password grant refused", extra={**failed, "result": "refused"})
            await self.throttle.fail_slowly(started)
            raise InvalidGrant(exc.reason) from None
        except UpstreamFailed as exc:  # nothing was decided about the person: nothing is counted
            log.warning("password grant: the connector could not check the password: %s", exc.reason)
            raise TemporarilyUnavailable("the directory could not check the password; try again") from None
        if identity is None:
            log.info("password grant failed", extra={**failed, "result": "failure"})
            await self.throttle.failed(counted, "")
            await self.throttle.fail_slowly(started)
            return None
        if await second_factor.enrolled(self.storage, connector, identity) is not None:
            # the password grant has no step for a code: a user with a second factor signs in in a browser
            log.info(
                "password grant refused: the user has a second factor",
                extra={"connector_id": connector.id, "event": "login", "result": "second_factor_required"},
            )
            await self.throttle.fail_slowly(started)
            return None
        await self.throttle.succeeded(counted)
        return connector.id, claims_of(identity), identity.connector_data

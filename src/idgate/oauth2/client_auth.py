"""Client authentication at the token endpoint (RFC 6749 §2.3.1): ``client_secret_basic``,
``client_secret_post``, and ``none`` for public clients.

An unknown client and a wrong secret answer the same (``invalid_client``, 401) and take the same time:
the secret is always compared (as SHA-256 digests, in constant time), against a dummy when there is no
client, and the client lookup is one indexed read either way.
"""

from __future__ import annotations

import hashlib
import hmac

from idgate.oauth2.errors import InvalidClient
from idgate.oauth2.requests import ClientCredentials
from idgate.storage.base import Client

METHODS = ("client_secret_basic", "client_secret_post")

_DUMMY_SECRET = "idgate-no-such-client-" + "x" * 32


def secrets_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets. Both are hashed first, so the time does not depend on
    their lengths either (``hmac.compare_digest`` leaks whether the lengths differ)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8")).digest(), hashlib.sha256(expected.encode("utf-8")).digest()
    )


def authenticate(credentials: ClientCredentials, client: Client | None) -> Client:
    """The authenticated client, or :class:`InvalidClient` for an unknown one or a wrong secret."""
    if credentials.secret is None:
        # "none": only a public client may go without a secret.
        if client is None or not client.public:
            raise InvalidClient("client authentication failed")
        return client
    expected = client.secret if client is not None and client.secret else _DUMMY_SECRET
    matches = secrets_equal(credentials.secret, expected)
    if client is None or not client.secret or not matches:
        raise InvalidClient("client authentication failed")
    return client

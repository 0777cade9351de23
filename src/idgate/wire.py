"""Names on the wire that the config, the edge and the proxy must agree on. Pure data; imports nothing.

The config validates options against these tables (``idgate.identity_headers``, ``cookie_name``), the edge
enforces them on every request and the proxy's core sets cookies by them. They live here, and not in
one of those three, because the config may import neither the edge nor the proxy (it is validated before
either exists), while the edge and the proxy both import the config's records: a table owned by any of
them would make another depend on it the wrong way round.

- which request headers the edge reads or sets itself (:data:`EDGE_HEADERS`): a client's copy of one is
  never simply passed on, and ``identity_headers.strip`` may not name one (:func:`reads_itself`);
- the identity headers of other proxies and gateways that a client may not send by default
  (:data:`FOREIGN_IDENTITY_HEADERS`), and how names and list entries compare (:func:`normalise_name`);
- the cookie-name prefixes of RFC 6265bis §4.1.3 (:data:`HOST_PREFIX`, :func:`has_prefix`);
- the callback a deployment sends as its ``redirect_uri`` (:func:`callback_url`): the sign-in sends it and
  ``idgate check`` tells the operator to register it, so both call this one function.
"""

from __future__ import annotations

__all__ = [
    "CALLBACK_PATH",
    "EDGE_HEADERS",
    "FOREIGN_IDENTITY_HEADERS",
    "FORWARDED_BY_EDGE",
    "HOP_BY_HOP",
    "HOST_PREFIX",
    "SECURE_PREFIX",
    "callback_url",
    "has_prefix",
    "normalise_name",
    "normalise_pattern",
    "reads_itself",
]

#: Hop-by-hop headers (RFC 9110 §7.6.1) and framing headers the edge writes itself.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)
#: Headers the edge sets towards upstreams from its own knowledge.
FORWARDED_BY_EDGE: frozenset[bytes] = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-uri", b"x-forwarded-method"}
)
#: Every request header the edge reads or controls, by lower-case name: the two sets above and those it
#: reads to decide (``idgate.edge.http`` gives each its role; one it does not read is dropped).
EDGE_HEADERS: frozenset[bytes] = (
    HOP_BY_HOP
    | FORWARDED_BY_EDGE
    | {
        b"host",
        b"cookie",
        b"expect",
        b"x-request-id",
        b"accept",
        b"x-requested-with",
        b"origin",
        b"authorization",
        b"x-real-ip",
    }
)


def reads_itself(name: str) -> bool:
    """Whether the edge reads or sets the request header ``name`` (lower-case) itself."""
    return name.encode("latin-1") in EDGE_HEADERS


#: Identity headers of other proxies and identity-aware gateways, which upstreams are often configured to
#: trust: a client's copies are removed by default (docs/proxy.md lists them with their origin). A
#: trailing ``*`` makes a prefix; names compare as :func:`normalise_name` makes them (``OIDC_*`` is
#: ``oidc-*``: ``OIDC_CLAIM_email`` and ``OIDC-Claim-Email`` alike).
FOREIGN_IDENTITY_HEADERS: tuple[str, ...] = (
    "Remote-*",  # Authelia's Remote-User/-Groups/-Email/-Name; Apache's REMOTE_USER passed as a header
    "X-Remote-*",  # Kubernetes' authenticating proxy: X-Remote-User, X-Remote-Group, X-Remote-Extra-*
    "Impersonate-*",  # Kubernetes impersonation: Impersonate-User, -Group, -Uid, -Extra-*
    "X-WEBAUTH-*",  # Grafana's auth.proxy default (X-WEBAUTH-USER); Gitea and Forgejo's reverse-proxy auth
    "X-User",
    "X-Email",
    "X-Auth-User",
    "X-Proxy-User",  # OpenSearch's proxy authentication (user and roles headers)
    "X-Proxy-Roles",
    "OIDC_*",  # mod_auth_openidc: OIDC_CLAIM_*, OIDC_access_token, OIDC_id_token, OIDC_id_token_payload
    "X-Pomerium-*",
    "X-Authentik-*",
    "X-Vouch-*",
    "Cf-Access-*",  # Cloudflare Access: Cf-Access-Jwt-Assertion, Cf-Access-Authenticated-User-Email
    "X-Goog-Authenticated-User-*",  # Google Cloud IAP
    "X-Goog-IAP-JWT-Assertion",
    "X-Amzn-Oidc-*",  # AWS Application Load Balancer
    "X-MS-Client-Principal*",  # Azure App Service authentication
    "X-MS-Token-*",
)


def normalise_name(name: str) -> str:
    """The comparison form of a header name: lower-case, ``_`` read as ``-``."""
    return name.lower().replace("_", "-")


def normalise_pattern(pattern: str) -> str:
    """The comparison form of a list entry (``X-Remote-*`` -> ``x-remote-*``)."""
    return normalise_name(pattern.strip())


HOST_PREFIX = "__Host-"
SECURE_PREFIX = "__Secure-"


def has_prefix(name: str, prefix: str) -> bool:
    """Whether cookie ``name`` starts with ``prefix`` (``__Host-``, ``__Secure-``), in any letter case."""
    return name[: len(prefix)].lower() == prefix.lower()


#: Where the provider sends the browser back to a deployment (OAuth2-Proxy's ``/oauth2/callback`` under
#: the chart's ``--proxy-prefix=/oauth``).
CALLBACK_PATH = "/oauth/callback"


def callback_url(host: str, redirect_url: str | None, proto: str) -> str:
    """The ``redirect_uri`` a deployment on ``host`` sends when the request came over ``proto`` (``http`` or
    ``https``): ``redirect_url`` when set, else the callback on the configured host (never the request's
    ``Host``)."""
    return redirect_url or f"{proto}://{host}{CALLBACK_PATH}"

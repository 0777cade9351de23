"""Cross-section checks on a loaded config: what each chart alone cannot see (kkp-values.md §6), and
what a command's target refuses. Every command runs :func:`check` on the loaded file, so one rule gives the
same message at the same YAML path wherever it is met:

- ``idgate serve`` and ``idgate render nginx``: ``check(config, "serve")``, the rules below; an error
  stops them;
- ``idgate render kubernetes``: ``check(config, "kubernetes")``, the rules below and
  :func:`idgate.deploy.rules.kubernetes_problems` (SQLite under replicas, NetworkPolicies without
  selectors, ...); an error stops the render (the pod would refuse to start on an error of the first kind
  anyway);
- ``idgate check``: ``check(config)``, all of them (but the render's own notes), and a warning for a
  static password that is one of the commonest (:mod:`idgate.config.weak_passwords`: bcrypt checks, so
  only here); the Kubernetes ones as
  warnings, their message
  prefixed with ``render kubernetes would refuse:`` (an error there) or ``render kubernetes:``. A warning,
  because the same file is good for ``idgate serve`` on one machine, where replicas, NetworkPolicies and
  pod sizes mean nothing: exit status 2 keeps meaning "cannot be served", and 1 still flags the file.

Errors (the setup cannot work):

- a deployment's ``client_id`` is not among ``dex.clients`` (checked when the file has Dex clients), or its
  ``client_secret`` differs from that client's ``secret`` (compared in constant time; never printed);
- that client's redirect URIs lack the callback the deployment will send (:func:`expected_callback`, made
  by :func:`idgate.wire.callback_url`, the function the sign-in itself calls): ``redirect_url`` when set;
  else ``<scheme>://<ingress.host>/oauth/callback``, where the scheme is the one the browser will use:
  ``http`` when the host's port is ``idgate.listen``'s (the browser talks to idgate's plain-http listener
  itself), else ``https`` with ``cookie_secure: true``, ``http`` when the provider is on plain http
  (``dex.ingress.scheme``), and ``https`` otherwise (behind an ingress or a TLS proxy), where ``http://``
  is accepted too for a ``localhost``, ``*.localhost`` or IP host. When the scheme is only likely, a
  registered URI with the other scheme is a warning that names the one that will be sent;
- ``iap.oidc_issuer_url`` is the chart's placeholder, or differs from the issuer the ``dex`` section makes;
- two deployments share a host or a ``name``; two Dex clients share an ``id``;
- ``github_team`` without ``github_org``;
- a ``cookie_name`` starting with ``__Host-`` together with ``cookie_domains``, a ``cookie_path`` other than
  ``/`` or ``cookie_secure: false`` (RFC 6265bis §4.1.3: browsers would refuse every such cookie); reported
  at the key that conflicts, in the deployment's ``config`` or in ``iap.default_configuration``;
- a ``dex.connectors[i].config`` block that its connector type's model refuses (unknown key with a
  "did you mean", wrong type, missing key: :func:`idgate.connectors.registry.connector_problems`);
- a client's ``RedirectURIs`` or ``postLogoutRedirectURIs`` entry that must not be registered
  (``javascript:``, ``data:``, a fragment, a relative URI, userinfo ...:
  :func:`idgate.oauth2.redirect_uris.registration_problem`);
- an ``authenticated_emails_file`` that cannot be read (``serve`` reads it at start-up);
- ``idgate.tls``: a certificate or key file that is missing or unreadable, holds no PEM certificate or key,
  or a key that is not the certificate's (:func:`idgate.config.tls.tls_problems`).

Warnings (it works, but probably not as meant):

- a deployment with no restriction at all (no ``email_domains``, ``allowed_groups`` or ``github_org``)
  lets nobody in: OAuth2-Proxy authorises no one with an empty ``email_domains`` (``['*']`` allows any);
- two Dex clients share a secret, or two deployments an ``encryption_key``;
- Dex has clients but no connectors or static passwords (nobody can log in);
- ``dex.expiry.refreshTokens.disableRotation``: a stolen refresh token works until it expires, unseen;
- a redirect URI over plain ``http://`` to a host that is not loopback, or with a private-use scheme that
  is not a reversed domain name;
- keys that are kept but have no effect (``discovery_url``, ``passthrough``, ``config.cookie_name``);
- a deployment on the provider's own host; a file with neither section;
- ``idgate.tls`` with ``dex.ingress.scheme: http`` (the issuer would be an http URL on an https listener).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from idgate.config.dex import Client, DexSection
from idgate.config.iap import CHART_PLACEHOLDER_ISSUER, Deployment, IapSection
from idgate.config.kkp import deployments, effective_options
from idgate.config.model import Config
from idgate.config.options import ProxyOptions, read_emails_file
from idgate.config.tls import tls_problems
from idgate.config.weak_passwords import weak_password_problems
from idgate.errors import ConfigError, Problem
from idgate.oauth2.redirect_uris import registration_problem
from idgate.settings import hostname, split_host
from idgate.wire import HOST_PREFIX, callback_url, has_prefix

__all__ = ["KUBERNETES_REFUSES", "Callback", "Target", "check", "expected_callback", "plain_http_allowed"]

#: What the command that checks a file will do with it (``None``: ``idgate check``, every target).
Target = Literal["serve", "kubernetes"] | None
KUBERNETES_REFUSES = "render kubernetes would refuse: "
KUBERNETES_WARNS = "render kubernetes: "


def check(config: Config, target: Target = None) -> list[Problem]:
    """Every problem of ``config`` for ``target`` (see the module docstring), errors and warnings."""
    problems = _cross_section(config)
    if target == "serve":
        return problems
    from idgate.deploy.rules import kubernetes_problems, render_notes  # late: deploy imports config

    found = kubernetes_problems(config)
    if target == "kubernetes":
        return problems + found + render_notes(config)
    for p in found:
        prefix = KUBERNETES_REFUSES if p.severity == "error" else KUBERNETES_WARNS
        problems.append(Problem(p.path, prefix + p.message, "warning"))
    return problems + weak_password_problems(config)


def _cross_section(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    if config.dex is None and config.iap is None:
        problems.append(Problem("", "neither a dex nor an iap section: nothing to serve", "warning"))
    if config.dex is not None:
        problems += _check_dex(config, config.dex)
    if config.iap is not None:
        problems += _check_issuer(config, config.iap)
        problems += _check_deployments(config, config.iap)
    if config.idgate.tls is not None:
        problems += tls_problems(config.idgate.tls, ("idgate", "tls"), config.path)
        if config.dex is not None and config.dex.ingress.scheme == "http" and config.dex.ingress.host:
            problems.append(
                Problem(
                    config.path("dex", "ingress", "scheme"),
                    "is http, but idgate.tls serves https: the issuer and its links would not work; "
                    "set it to https",
                    "warning",
                )
            )
    return problems


def _equal_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _check_dex(config: Config, dex: DexSection) -> list[Problem]:
    problems: list[Problem] = []
    seen_ids: dict[str, int] = {}
    for i, client in enumerate(dex.clients):
        if client.id in seen_ids:
            problems.append(
                Problem(
                    config.path("dex", "clients", i, "id"),
                    f"'{client.id}' is also the id of dex.clients[{seen_ids[client.id]}]",
                )
            )
        seen_ids.setdefault(client.id, i)
        for j, other in enumerate(dex.clients[:i]):
            if client.secret and not client.public and _equal_secret(client.secret, other.secret):
                problems.append(
                    Problem(
                        config.path("dex", "clients", i, "secret"),
                        f"same secret as dex.clients[{j}]; each client should have its "
                        "own credentials (`idgate secret` makes one)",
                        "warning",
                    )
                )
                break
    password_connector = dex.oauth2.passwordConnector
    if password_connector is not None:
        known = [c.id for c in dex.connectors] + ["local"]
        if password_connector not in known:
            problems.append(
                Problem(
                    config.path("dex", "oauth2", "passwordConnector"),
                    f"'{password_connector}' is not a connector id (known: {', '.join(known)})",
                )
            )
    problems += _check_redirect_uris(config, dex)
    from idgate.connectors.registry import connector_problems  # imported late: connectors import config

    for i, connector in enumerate(dex.connectors):
        problems += connector_problems(connector.type, connector.config, ("dex", "connectors", i, "config"))
    refresh = dex.expiry.refreshTokens
    if refresh is not None and refresh.disableRotation:
        problems.append(
            Problem(
                config.path("dex", "expiry", "refreshTokens", "disableRotation"),
                "refresh tokens do not rotate: a stolen one works until it expires and its reuse "
                "cannot be detected",
                "warning",
            )
        )
    if dex.clients and not dex.connectors and not dex.staticPasswords:
        problems.append(
            Problem("dex", "clients but no connectors or staticPasswords: nobody can log in", "warning")
        )
    return problems


def _check_redirect_uris(config: Config, dex: DexSection) -> list[Problem]:
    """Every registered redirect URI (and post-logout one) that must not be, or should not be."""
    problems: list[Problem] = []
    for i, client in enumerate(dex.clients):
        for key, uris in (
            ("redirectURIs", client.redirect_uris),
            ("postLogoutRedirectURIs", client.post_logout_redirect_uris),
        ):
            for j, uri in enumerate(uris):
                found = registration_problem(uri)
                if found is not None:
                    at = config.path("dex", "clients", i, key, j)
                    problems.append(Problem(at, f"{uri!r} {found.message}", found.severity))
    return problems


def _check_issuer(config: Config, iap: IapSection) -> list[Problem]:
    url = iap.oidc_issuer_url
    path = config.path("iap", "oidc_issuer_url")
    problems: list[Problem] = []
    if iap.discovery_url is not None:
        problems.append(
            Problem(
                config.path("iap", "discovery_url"),
                "Gatekeeper-era key, ignored: the proxies find the provider from iap.oidc_issuer_url",
                "warning",
            )
        )
    if not iap.deployments or not url:
        return problems
    if url.rstrip("/") == CHART_PLACEHOLDER_ISSUER:
        want = config.dex.issuer if config.dex and config.dex.issuer else "the provider's issuer URL"
        problems.append(
            Problem(path, f"is the chart's placeholder {CHART_PLACEHOLDER_ISSUER}; set it to {want}")
        )
    elif config.dex is not None and config.dex.issuer and url.rstrip("/") != config.dex.issuer:
        problems.append(Problem(path, f"is {url}, but the issuer made by dex.ingress is {config.dex.issuer}"))
    return problems


def plain_http_allowed(host: str, dex: DexSection | None) -> bool:
    """Whether ``http://`` callbacks are fine for ``host``: a loopback name, an IP, or an http provider."""
    if dex is not None and dex.ingress.scheme == "http":
        return True
    name = hostname(host).strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Callback:
    """The ``redirect_uri`` a deployment will send, as far as the file tells (:func:`expected_callback`).

    ``why`` says what decided the scheme (empty: nothing did, ``https`` is assumed); ``certain`` when the
    file leaves no doubt; ``also``: URIs that work too in a set-up the file cannot rule out.
    """

    uri: str
    why: str = ""
    certain: bool = False
    also: tuple[str, ...] = ()


def _listener_scheme(config: Config) -> str:
    """The scheme of idgate's own public listener (``idgate.listen``): https with ``idgate.tls``."""
    return "https" if config.idgate.tls is not None else "http"


def expected_callback(config: Config, dep: Deployment, opts: ProxyOptions) -> Callback:
    """The callback ``dep`` sends as its ``redirect_uri`` (see the module docstring), built by
    :func:`idgate.wire.callback_url` as at sign-in, where the scheme is the request's."""
    host = dep.ingress.host
    if opts.redirect_url:
        return Callback(opts.redirect_url, "config.redirect_url", certain=True)
    listen = config.idgate.listen
    port, listen_port = split_host(host)[1], split_host(listen)[1]
    if port is not None and port == listen_port:
        scheme = _listener_scheme(config)
        why = f"its port is idgate.listen's, {listen}: the browser talks to idgate itself, over {scheme}"
        return Callback(callback_url(host, None, scheme), why, certain=True)
    if opts.cookie_secure is True:
        return Callback(callback_url(host, None, "https"), "cookie_secure is true")
    dex = config.dex
    if dex is not None and dex.ingress.scheme == "http":
        return Callback(callback_url(host, None, "http"), "the provider is on plain http, dex.ingress.scheme")
    also = (callback_url(host, None, "http"),) if plain_http_allowed(host, None) else ()
    return Callback(callback_url(host, None, "https"), also=also)


def _other_scheme(uri: str) -> str:
    for a, b in (("https://", "http://"), ("http://", "https://")):
        if uri.startswith(a):
            return b + uri[len(a) :]
    return uri


def _find_client(clients: Iterable[Client], client_id: str) -> tuple[int, Client] | None:
    return next(((i, c) for i, c in enumerate(clients) if c.id == client_id), None)


def _check_deployments(config: Config, iap: IapSection) -> list[Problem]:
    problems: list[Problem] = []
    dex = config.dex
    hosts: dict[str, str] = {}
    names: dict[str, str] = {}
    keys: dict[bytes, str] = {}
    for key, dep in deployments(iap):
        at = ("iap", "deployments", key)
        here = config.path(*at)
        opts = effective_options(iap, dep)
        if opts.session_store_type == "redis" and not opts.redis_connection_url:
            # Checked once merged, as the chart merges iap.default_configuration under each config.
            problems.append(
                Problem(
                    config.path(*at, "config", "session_store_type"),
                    "session_store_type redis needs redis_connection_url (redis://host:6379/0), here or "
                    "in iap.default_configuration",
                )
            )
        host = hostname(dep.ingress.host)
        if host in hosts:
            problems.append(Problem(config.path(*at, "ingress", "host"), f"same host as {hosts[host]}"))
        hosts.setdefault(host, here)
        if dex is not None and dex.issuer and host == hostname(dex.ingress.host):
            problems.append(
                Problem(
                    config.path(*at, "ingress", "host"),
                    "is the provider's host "
                    "(dex.ingress.host); only paths outside the issuer path reach this "
                    "deployment",
                    "warning",
                )
            )
        if dep.name in names:
            problems.append(
                Problem(
                    config.path(*at, "name"),
                    f"'{dep.name}' is also the name of "
                    f"{names[dep.name]} (objects and the cookie are named after it)",
                )
            )
        names.setdefault(dep.name, here)
        secret = dep.encryption_key_bytes
        if secret in keys:
            problems.append(
                Problem(
                    config.path(*at, "encryption_key"),
                    f"same key as {keys[secret]}; give each deployment its own",
                    "warning",
                )
            )
        keys.setdefault(secret, here)
        if dex is not None and dex.clients:
            problems += _check_client(
                config,
                dex,
                key,
                client_id=dep.client_id,
                secret=dep.client_secret,
                callback=expected_callback(config, dep, opts),
            )
        if not opts.email_domains and not opts.allowed_groups and not opts.github_org:
            problems.append(
                Problem(
                    config.path(*at, "config", "email_domains"),
                    "this deployment lets "
                    "nobody in: no email_domains, allowed_groups or github_org (OAuth2-Proxy "
                    "authorises no one; email_domains: ['*'] allows any verified email)",
                    "warning",
                )
            )
        if opts.github_team and not opts.github_org:
            problems.append(
                Problem(
                    config.path(*at, "config", "github_team"),
                    "needs github_org (teams are matched as the group 'org:team')",
                )
            )
        problems += _check_host_prefix(config, dep, at, opts)
        if opts.authenticated_emails_file:
            try:
                read_emails_file(opts.authenticated_emails_file)
            except ConfigError as exc:
                where = _option_path(config, dep, at, "authenticated_emails_file")
                problems += [Problem(where, p.message) for p in exc.problems]
        if "cookie_name" in dep.config.model_fields_set:
            problems.append(
                Problem(
                    config.path(*at, "config", "cookie_name"),
                    "had no effect in the iap "
                    f"chart (it fixes --cookie-name={dep.name}_oauth2_proxy); idgate uses it",
                    "warning",
                )
            )
        if dep.passthrough is not None:
            problems.append(
                Problem(
                    config.path(*at, "passthrough"),
                    "Gatekeeper-era key, ignored: use config.skip_auth_regex",
                    "warning",
                )
            )
    return problems


def _option_path(config: Config, dep: Deployment, at: tuple[str, ...], key: str) -> str:
    """Where the deployment's effective option ``key`` was written (see ``effective_options``)."""
    if key in dep.config.model_fields_set or not dep.config.model_fields_set:
        return config.path(*at, "config", key)
    return config.path("iap", "default_configuration", key)


def _check_host_prefix(
    config: Config, dep: Deployment, at: tuple[str, ...], opts: ProxyOptions
) -> list[Problem]:
    """``__Host-`` cookies must be ``Secure``, ``Path=/`` and host-only (RFC 6265bis §4.1.3)."""
    name = opts.cookie_name or ""
    if not has_prefix(name, HOST_PREFIX):
        return []
    conflicts: list[tuple[str, str]] = []
    if opts.cookie_domains:
        conflicts.append(("cookie_domains", "must be empty"))
    if (opts.cookie_path or "/") != "/":
        conflicts.append(("cookie_path", "must be /"))
    if opts.cookie_secure is False:
        conflicts.append(("cookie_secure", "must not be false"))
    return [
        Problem(
            _option_path(config, dep, at, key),
            f"{rule} with cookie_name '{name}': a {HOST_PREFIX} cookie is Secure, Path=/ and has no Domain "
            "(browsers refuse it otherwise)",
        )
        for key, rule in conflicts
    ]


def _check_client(
    config: Config, dex: DexSection, key: str, *, client_id: str, secret: str, callback: Callback
) -> list[Problem]:
    at = ("iap", "deployments", key)
    found = _find_client(dex.clients, client_id)
    if found is None:
        return [Problem(config.path(*at, "client_id"), f"no client with id '{client_id}' in dex.clients")]
    i, client = found
    problems: list[Problem] = []
    if not client.public and not _equal_secret(secret, client.secret):
        problems.append(
            Problem(
                config.path(*at, "client_secret"),
                f"does not match the secret of dex.clients[{i}] (id '{client_id}')",
            )
        )
    problem = _callback_problem(callback, client.redirect_uris, config.path(*at))
    if problem is not None:
        problems.append(Problem(config.path("dex", "clients", i, "redirectURIs"), *problem))
    return problems


def _callback_problem(
    callback: Callback, registered: Iterable[str], deployment: str
) -> tuple[str, Literal["error", "warning"]] | None:
    """What to say when the client's ``registered`` URIs lack the callback that ``deployment`` sends: an
    error, but a warning when the file only makes the scheme likely and the other one is registered."""
    known = set(registered)
    uri, why = callback.uri, f" ({callback.why})" if callback.why else ""
    if uri in known or (not callback.why and known & set(callback.also)):
        return None
    other = _other_scheme(uri)
    if other in known and callback.why and not callback.certain:
        return (
            f"holds {other}, but {deployment} sends {uri}{why}; register {uri}, or set config.redirect_url "
            "to the address the browser uses",
            "warning",
        )
    refused = ""
    if callback.certain and other in known:
        refused = f"; {other} is registered, but the sign-in would be refused"
    return f"does not contain {uri}, the callback of {deployment}{why}{refused}", "error"

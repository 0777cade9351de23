"""``idgate init``: a complete values file for a domain and a list of services, with fresh secrets.

Pure: options in, YAML text (and the one-time admin password) out. The command in :mod:`idgate.cli.init`
parses the options, writes the file and prints the password; secrets come from ``make_secret``.

What the file holds (kkp-values.md §3 and §6; ``idgate check`` passes on it):

- ``dex:`` the provider at ``https://<domain>/dex``; one client per service, each with its own secret and
  the redirect URI ``https://<service>.<domain>/oauth/callback``. With ``kkp_client`` also the KKP
  dashboard's ``kubermatic`` client (off by default: a file for idgate alone does not need it, and an
  existing KKP values file already has one; the comment says to keep it). Who logs in: a GitHub
  connector (``github_org``; its credentials are ``${GITHUB_CLIENT_ID}`` / ``${GITHUB_CLIENT_SECRET}``
  from the environment) or else one static ``admin@<domain>`` user whose generated password is returned
  once and only its bcrypt hash is written.
- ``iap:`` the issuer URL and one deployment per service: the client's id and secret, a fresh 32-character
  ``encryption_key``, the upstream from ``NAME=HOST:PORT``, the host ``<service>.<domain>``,
  ``scope: "groups openid email"``, ``email_domains: ['*']``, ``github_org``/``github_team`` when given,
  ``skip_auth_regex`` for a known health path (:data:`HEALTH_PATHS`, matched on the service name) and
  ``pass_user_headers: true`` for Grafana.
- ``idgate:`` where to listen and keep state.

``local`` moves everything onto this machine over plain http: the provider at ``localhost:<port>``,
services at ``<service>.localhost:<port>``, ``idgate.listen: 127.0.0.1:<port>``.

Bad input raises :class:`idgate.errors.ConfigError` with every problem at once, each at the option that
caused it (``--service``, ``--domain`` ...).
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import bcrypt

from idgate.errors import ConfigError, Problem

__all__ = ["HEALTH_PATHS", "Generated", "InitOptions", "Service", "parse_service", "render", "validate"]

HEALTH_PATHS: dict[str, str] = {
    "prometheus": "^/-/healthy$",
    "alertmanager": "^/-/healthy$",
    "grafana": "^/api/health$",
}
"""Paths left open without login, by service kind. A service is of a kind when its name, split on ``-``,
holds the kind (``prometheus``, ``mla-prometheus`` and ``prometheus-user`` are all Prometheus)."""

PASS_USER_HEADERS = ("grafana",)  # Grafana's [auth.proxy] reads X-Forwarded-Email
SCOPE = "groups openid email"
DEFAULT_PORT = 4180

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SERVICE_NAME = re.compile(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?")
_GITHUB_ORG = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
_GITHUB_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_PLAIN = re.compile(r"[A-Za-z0-9/^][A-Za-z0-9._/:@^$-]*")
_NOT_PLAIN = re.compile(
    r"(?i)(y|yes|n|no|true|false|on|off|null|~)|[-+]?(\d[\d_]*(\.\d*)?|\.\d+)(e[-+]?\d+)?|0x[0-9a-f]+|0o?[0-7]+"
    r"|\d+(:\d+)+(\.\d*)?|\d{4}-\d\d-\d\d.*"
)
SERVICE_SYNTAX = "NAME=HOST:PORT, e.g. prometheus=prometheus.monitoring.svc.cluster.local:9090"


@dataclass(frozen=True, slots=True)
class Service:
    """One ``--service NAME=HOST:PORT``: a deployment and a client named ``name``."""

    name: str
    upstream_host: str
    upstream_port: int


@dataclass(frozen=True, slots=True)
class InitOptions:
    """What ``idgate init`` was asked for (see the module docstring)."""

    services: tuple[Service, ...]
    domain: str | None = None
    github_org: str | None = None
    github_team: str | None = None
    kkp_client: bool = False
    local: bool = False
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Generated:
    """The values file, and the admin's password when one was made (to be shown once, never stored)."""

    text: str
    admin_email: str | None = None
    admin_password: str | None = None


def is_dns_name(name: str) -> bool:
    """Whether ``name`` is a lower-case DNS name: dot-separated labels of ``a-z0-9-``, at most 253 chars."""
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def parse_service(spec: str) -> Service:
    """``prometheus=prometheus.monitoring.svc.cluster.local:9090`` -> :class:`Service`.

    Raises :class:`ConfigError` with every problem of ``spec``.
    """
    at = "--service"
    name, sep, target = spec.partition("=")
    host, colon, port = target.rpartition(":")
    if not sep or not colon or not name or not host:
        raise ConfigError([Problem(at, f"'{spec}': expected {SERVICE_SYNTAX}")])
    problems: list[Problem] = []
    if not _SERVICE_NAME.fullmatch(name):
        problems.append(
            Problem(
                at,
                f"'{spec}': the name '{name}' must be a DNS label (lower-case letters, digits and '-', "
                "starting with a letter, at most 63 characters): it names the client, the deployment "
                "and the host <name>.<domain>",
            )
        )
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed and not _is_ip(host):
        problems.append(Problem(at, f"'{spec}': '{host}' is not an IPv6 address"))
    elif not bracketed and not (is_dns_name(host.lower()) or _is_ip(host)):
        problems.append(
            Problem(at, f"'{spec}': the upstream host '{host}' is not a DNS name or an IP address")
        )
    elif not bracketed and ":" in host:
        problems.append(Problem(at, f"'{spec}': write an IPv6 upstream in brackets, e.g. [::1]:9090"))
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        problems.append(Problem(at, f"'{spec}': the port '{port}' must be a number from 1 to 65535"))
    if problems:
        raise ConfigError(problems)
    return Service(name, host.lower(), int(port))


def validate(options: InitOptions) -> list[Problem]:
    """Every problem with ``options`` that :func:`parse_service` cannot see on its own."""
    problems: list[Problem] = []
    if not options.services:
        problems.append(Problem("--service", f"give at least one service to protect: {SERVICE_SYNTAX}"))
    seen: set[str] = set()
    for service in options.services:
        if service.name in seen:
            problems.append(
                Problem("--service", f"'{service.name}' is given twice; service names are unique")
            )
        seen.add(service.name)
    if options.local:
        if options.domain is not None:
            problems.append(
                Problem("--domain", "is not used with --local (every host is *.localhost); drop one of them")
            )
    elif options.domain is None:
        problems.append(Problem("--domain", "is required (or --local for a file that runs on this machine)"))
    elif _is_ip(options.domain):
        problems.append(Problem("--domain", f"'{options.domain}' is an IP address; services need a DNS name"))
    elif not is_dns_name(options.domain):
        problems.append(
            Problem(
                "--domain",
                f"'{options.domain}' is not a valid DNS name (lower-case labels of letters, digits and "
                "'-', separated by dots, such as kkp.example.com)",
            )
        )
    else:
        for service in options.services:
            if len(f"{service.name}.{options.domain}") > 253:
                problems.append(
                    Problem("--service", f"'{service.name}.{options.domain}' is longer than 253 characters")
                )
    if options.port is not None and not options.local:
        problems.append(Problem("--port", "only applies with --local (elsewhere your ingress picks ports)"))
    if options.github_team is not None and options.github_org is None:
        problems.append(Problem("--github-team", "needs --github-org (teams belong to an organisation)"))
    if options.github_org is not None and not _GITHUB_ORG.fullmatch(options.github_org):
        problems.append(Problem("--github-org", f"'{options.github_org}' is not a GitHub organisation name"))
    if options.github_team is not None and not _GITHUB_TEAM.fullmatch(options.github_team):
        problems.append(
            Problem("--github-team", f"'{options.github_team}' is not a GitHub team slug (such as my-team)")
        )
    return problems


def scalar(value: str | int | bool) -> str:
    """``value`` as a YAML scalar: plain when that reads back as the same string, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.fullmatch(value) and not _NOT_PLAIN.fullmatch(value) and not value.endswith(":"):
        return value
    return '"' + "".join(_escape(c) for c in value) + '"'


def _escape(char: str) -> str:
    """One character inside a YAML double-quoted scalar: printable ASCII as is, the rest escaped."""
    if char in '"\\':
        return "\\" + char
    if " " <= char <= "~":
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _kind(name: str) -> str | None:
    parts = name.split("-")
    return next((kind for kind in HEALTH_PATHS if kind in parts), None)


def _title(name: str) -> str:
    return " ".join(part.capitalize() for part in name.split("-"))


class _Lines:
    """A tiny YAML writer: ``key: value  # comment`` lines at an indentation, and comment blocks."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def comment(self, indent: int, *text: str) -> None:
        self.lines += [f"{' ' * indent}# {t}".rstrip() for t in text]

    def key(self, indent: int, key: str, value: str | int | bool | None = None, note: str = "") -> None:
        line = f"{' ' * indent}{key}:" + ("" if value is None else f" {scalar(value)}")
        self.lines.append(f"{line}  # {note}" if note else line)

    def items(self, indent: int, values: Sequence[str]) -> None:
        self.lines += [f"{' ' * indent}- {scalar(v)}" for v in values]

    def raw(self, line: str = "") -> None:
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass(frozen=True, slots=True)
class _Site:
    """Where things are: the provider's host and scheme, each service's host."""

    scheme: str
    provider_host: str
    local: bool
    domain: str

    def host(self, service: str) -> str:
        return f"{service}.{self.provider_host}"

    @property
    def issuer(self) -> str:
        return f"{self.scheme}://{self.provider_host}/dex"


@dataclass(frozen=True, slots=True)
class _Admin:
    email: str
    password: str
    hash: str
    user_id: str


@dataclass(frozen=True, slots=True)
class _Fresh:
    """Every secret the file gets, made before any line is written."""

    client_secrets: dict[str, str]
    encryption_keys: dict[str, str]
    kkp_secret: str | None
    admin: _Admin | None


def render(
    options: InitOptions,
    *,
    make_secret: Callable[[int], str],
    bcrypt_rounds: int = 10,
) -> Generated:
    """The values file for ``options`` (raises :class:`ConfigError` when :func:`validate` finds problems)."""
    problems = validate(options)
    if problems:
        raise ConfigError(problems)
    if options.local:
        port = options.port or DEFAULT_PORT
        site = _Site("http", f"localhost:{port}", local=True, domain="localhost")
    else:
        assert options.domain is not None  # validated
        site = _Site("https", options.domain, local=False, domain=options.domain)
    admin = None
    if options.github_org is None:
        password = make_secret(20)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=bcrypt_rounds)).decode()
        email = "admin@example.com" if site.local else f"admin@{site.domain}"
        admin = _Admin(email, password, hashed, str(uuid.uuid4()))
    fresh = _Fresh(
        client_secrets={s.name: make_secret(32) for s in options.services},
        encryption_keys={s.name: make_secret(32) for s in options.services},
        kkp_secret=make_secret(32) if options.kkp_client else None,
        admin=admin,
    )
    out = _Lines()
    _header(out, options, site)
    _dex(out, options, site, fresh)
    out.raw()
    _iap(out, options, site, fresh)
    out.raw()
    _idgate(out, site)
    if admin is None:
        return Generated(out.text())
    return Generated(out.text(), admin.email, admin.password)


def _header(out: _Lines, options: InitOptions, site: _Site) -> None:
    names = ", ".join(s.name for s in options.services)
    out.comment(
        0,
        f"idgate values file, written by `idgate init` for: {names}.",
        "",
        "The Kubermatic chart layout, in one file:",
        "  dex:     the OIDC provider (the `oauth` chart's values)",
        "  iap:     one identity-aware proxy per service (the `iap` chart's values)",
        "  idgate:  what only idgate has (where it listens, where it keeps state)",
        "",
        "It holds fresh secrets: keep it private and out of version control.",
        "Check it with `idgate check FILE`; run it with `idgate serve --config FILE`.",
    )
    if site.local:
        first = options.services[0].name if options.services else "SERVICE"
        out.comment(
            0,
            "",
            "This variant runs on this machine over plain http: open",
            f"http://{site.host(first)}/ (browsers resolve *.localhost to 127.0.0.1).",
        )
    else:
        out.comment(
            0,
            "",
            f"DNS: point {site.domain} and *.{site.domain} (or each service host below) at the load",
            "balancer or ingress that terminates TLS and forwards to idgate (see idgate.listen).",
        )
    if options.github_org is not None:
        out.comment(
            0,
            "",
            "Before `idgate check` or `idgate serve`: export GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET",
            "(the GitHub OAuth app, see dex.connectors).",
        )
    out.raw()


def _dex(out: _Lines, options: InitOptions, site: _Site, fresh: _Fresh) -> None:
    out.key(0, "dex")
    out.key(2, "ingress")
    out.key(4, "host", site.provider_host, f"the provider is {site.issuer}")
    out.key(4, "path", "/dex")
    out.key(4, "scheme", site.scheme)
    out.comment(
        2,
        "One provider: its state is one SQLite file (idgate.data_dir). For more replicas (dex.replicas,",
        "`idgate render kubernetes`), keep it in PostgreSQL: idgate.storage: postgresql://USER@HOST/DB.",
    )
    out.key(2, "replicas", 1)
    out.raw()
    if options.github_org is not None:
        callback = f"{site.issuer}/callback"
        out.comment(
            2,
            "Who can log in: members of a GitHub organisation (and team). Create an OAuth app at",
            f"https://github.com/organizations/{options.github_org}/settings/applications with the",
            f"authorization callback URL {callback}, then export its Client ID and",
            "a client secret as GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (they are read from the",
            "environment when idgate starts; or write the values here).",
        )
        out.key(2, "connectors")
        out.raw("    - type: github")
        out.key(6, "id", "github")
        out.key(6, "name", "GitHub")
        out.key(6, "config")
        out.key(8, "clientID", "${GITHUB_CLIENT_ID}")
        out.key(8, "clientSecret", "${GITHUB_CLIENT_SECRET}")
        out.key(8, "redirectURI", callback)
        out.key(8, "orgs")
        out.raw(f"          - name: {scalar(options.github_org)}")
        if options.github_team is not None:
            out.key(12, "teams")
            out.items(14, [options.github_team])
    else:
        admin = fresh.admin
        assert admin is not None  # made when there is no connector
        out.comment(
            2,
            f"Who can log in: one local administrator, {admin.email}. Its password was printed once when",
            "this file was written; only its bcrypt hash is kept. To change it, put the output of",
            "`htpasswd -nbBC 10 '' NEW-PASSWORD | cut -d: -f2` in `hash`. For real users add a",
            "connector instead (GitHub: `idgate init --github-org ORG`; or LDAP, OIDC, GitLab, Google).",
        )
        out.key(2, "staticPasswords")
        out.raw(f"    - email: {scalar(admin.email)}")
        out.key(6, "hash", admin.hash)
        out.key(6, "username", "admin")
        out.key(6, "userID", admin.user_id)
    out.raw()
    out.comment(
        2,
        "One OAuth client per service; its iap deployment below uses the same id and secret.",
        "Every client has its own secret (`idgate secret` makes a new one; change it in both places).",
    )
    if not options.kkp_client:
        out.comment(
            2,
            "If this file also configures Kubermatic (KKP), keep the dashboard's `kubermatic` client",
            "here as well (`idgate init --kkp-client` writes one).",
        )
    out.key(2, "clients")
    if options.kkp_client:
        out.comment(
            4,
            "The KKP dashboard's login (KubermaticConfiguration spec.auth.clientID); if you already",
            "have this client, keep your own entry instead of this one.",
        )
        _client(
            out,
            "kubermatic",
            "Kubermatic",
            fresh.kkp_secret or "",
            [f"{site.scheme}://{site.provider_host}", f"{site.scheme}://{site.provider_host}/projects"],
        )
    for service in options.services:
        callback = f"{site.scheme}://{site.host(service.name)}/oauth/callback"
        _client(out, service.name, _title(service.name), fresh.client_secrets[service.name], [callback])


def _client(out: _Lines, client_id: str, name: str, secret: str, redirects: list[str]) -> None:
    out.raw(f"    - id: {scalar(client_id)}")
    out.key(6, "name", name)
    out.key(6, "secret", secret)
    out.key(6, "RedirectURIs")
    out.items(8, redirects)


def _iap(out: _Lines, options: InitOptions, site: _Site, fresh: _Fresh) -> None:
    out.key(0, "iap")
    out.comment(2, "The provider the proxies log in with: dex.ingress's <scheme>://<host><path>.")
    out.key(2, "oidc_issuer_url", site.issuer)
    out.key(2, "deployments")
    for i, service in enumerate(options.services):
        if i:
            out.raw()
        _deployment(out, options, site, service, fresh)


def _deployment(out: _Lines, options: InitOptions, site: _Site, service: Service, fresh: _Fresh) -> None:
    name = service.name
    secret, key = fresh.client_secrets[name], fresh.encryption_keys[name]
    out.key(4, name)
    out.key(6, "name", name, "names the objects and the cookie")
    out.key(6, "client_id", name, "the id of a dex client above")
    out.key(6, "client_secret", secret, "that client's secret")
    out.key(6, "encryption_key", key, "encrypts the cookie; unique to this deployment")
    out.key(6, "upstream_service", service.upstream_host, "the service being protected")
    out.key(6, "upstream_port", service.upstream_port)
    out.key(6, "ingress")
    host_note = "" if site.local else f"needs DNS: this name or *.{site.domain}"
    out.key(8, "host", site.host(name), host_note)
    out.key(6, "config")
    out.key(8, "scope", SCOPE)
    out.comment(8, "Who may pass: '*' is everyone who can log in; or list email domains (example.com).")
    out.key(8, "email_domains")
    out.items(10, ["*"])
    if options.github_org is not None:
        out.key(8, "github_org", options.github_org, "only members of this organisation")
        if options.github_team is not None:
            out.key(8, "github_team", options.github_team, "and of this team")
    kind = _kind(name)
    if kind is not None:
        out.comment(
            8, f"Open without login: {_title(kind)}'s health check (regular expressions on the path)."
        )
        out.key(8, "skip_auth_regex")
        out.items(10, [HEALTH_PATHS[kind]])
    if kind in PASS_USER_HEADERS:
        out.key(8, "pass_user_headers", True, "Grafana's [auth.proxy] reads X-Forwarded-Email")


def _idgate(out: _Lines, site: _Site) -> None:
    out.key(0, "idgate")
    if site.local:
        port = site.provider_host.rpartition(":")[2]
        out.key(2, "listen", f"127.0.0.1:{port}", "every host above is served here")
    else:
        out.comment(
            2,
            "Where idgate listens for every host above, as plain http behind your TLS-terminating",
            "ingress or load balancer (in a container: 0.0.0.0:4180).",
        )
        out.key(2, "listen", f"127.0.0.1:{DEFAULT_PORT}")
    out.key(2, "data_dir", "./data", "signing keys and the database (sqlite) live here")

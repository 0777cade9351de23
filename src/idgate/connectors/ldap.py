"""The ``ldap`` connector: username and password checked against an LDAP directory, with Dex's config keys.

A login (:meth:`LDAPConnector.login`):

1. an empty password is refused at once: no bind ever happens with one (an empty-password simple bind is an
   *unauthenticated* bind that many servers accept, RFC 4513 §5.1.2);
2. a pooled connection, bound as ``bindDN`` (or anonymous), searches ``userSearch.baseDN`` for
   ``(&<filter>(<username>=<typed name, RFC 4515-escaped>))``; no entry is a wrong login, more than one is
   an error (the directory is ambiguous, never pick one);
3. a fresh connection binds as the entry's DN with the password; ``invalidCredentials`` is a wrong login;
4. with the ``groups`` scope, groups are searched per ``groupSearch.userMatchers``
   (``(&<filter>(<groupAttr>=<user's userAttr value>))``, ``userAttr: DN`` meaning the entry's DN).

Transport: LDAPS by default (port 636), ``startTLS`` upgrades a plain connection (389), ``insecureNoSSL``
stays plain. Certificates are verified against ``rootCA`` / ``rootCAData`` (or the system store) unless
``insecureSkipVerify``; ``clientCert`` + ``clientKey`` (PEM files) present a client certificate for servers
that ask for one (mutual TLS). A server that cannot be reached (refused, reset, timed out) raises
:class:`UpstreamUnavailable`; a TLS failure, a refused service bind or an unusable answer raises
:class:`UpstreamFailed`: the login fails closed either way.

The client is ``ldap3`` (pure Python, synchronous), run in worker threads; connections are pooled (at most
:data:`POOL_SIZE`) with connect and receive timeouts. Every new connection gets a new ``ldap3.Server``
(its address resolved again, ~50 µs): one shared ``Server`` remembers an address that refused a connection
and will not try it for ~6 s, so the first logins after the directory came back would fail. Refresh
re-runs the user search for the same name, requires the same DN, and re-reads the groups.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from idgate.connectors.base import Connector, ConnectorServices, ConnectorType, Identity
from idgate.connectors.config import ConnectorConfig, config_problem
from idgate.connectors.email import checked_email
from idgate.connectors.errors import LoginRefused, UpstreamFailed, UpstreamUnavailable
from idgate.connectors.ldap_escape import escape_filter
from idgate.errors import Loc
from idgate.settings import ConnectorSettings

if TYPE_CHECKING:  # ldap3 (~16 MB) is imported when an LDAP connector is built, not before
    import ldap3

__all__ = ["ClientCertError", "GroupSearch", "LDAPConfig", "LDAPConnector", "UserMatcher", "UserSearch"]

POOL_SIZE = 8
CONNECT_TIMEOUT = 5  # seconds; ldap3 wants ints (it packs them into socket options)
RECEIVE_TIMEOUT = 10


class UserSearch(ConnectorConfig):
    """How to find the person's entry from the name they typed."""

    baseDN: str
    filter: str = ""
    username: str = "uid"  # one attribute, or several separated by commas (any may match)
    scope: Literal["sub", "one"] = "sub"
    idAttr: str = "uid"
    emailAttr: str = "mail"
    nameAttr: str = ""
    preferredUsernameAttr: str = ""
    emailSuffix: str = ""


class UserMatcher(ConnectorConfig):
    """A group contains the person when its ``groupAttr`` holds the person's ``userAttr`` (``DN``: the DN)."""

    userAttr: str
    groupAttr: str


class GroupSearch(ConnectorConfig):
    """How to find the person's groups."""

    legacy_keys: ClassVar[frozenset[str]] = frozenset({"userAttr", "groupAttr"})

    baseDN: str
    filter: str = ""
    scope: Literal["sub", "one"] = "sub"
    userMatchers: list[UserMatcher] = Field(default_factory=list)
    userAttr: str = ""  # legacy single matcher
    groupAttr: str = ""
    nameAttr: str = "cn"

    @property
    def matchers(self) -> list[UserMatcher]:
        """``userMatchers``, or the legacy ``userAttr``/``groupAttr`` pair."""
        if self.userMatchers:
            return self.userMatchers
        return [UserMatcher(userAttr=self.userAttr, groupAttr=self.groupAttr)] if self.userAttr else []

    @model_validator(mode="after")
    def _has_matcher(self) -> Self:
        if not self.matchers:
            raise PydanticCustomError(
                "ldap_matchers", "groupSearch needs userMatchers (userAttr and groupAttr)"
            )
        return self


class LDAPConfig(ConnectorConfig):
    """Dex's ``ldap`` connector config."""

    host: str
    insecureNoSSL: bool = False
    insecureSkipVerify: bool = False
    startTLS: bool = False
    rootCA: str = ""
    rootCAData: str = ""  # base64 of PEM, as Dex's []byte
    clientCert: str = ""  # PEM file: the client certificate for mutual TLS
    clientKey: str = ""  # PEM file: its private key
    bindDN: str = ""
    bindPW: str = ""
    usernamePrompt: str = "Username"
    userSearch: UserSearch
    groupSearch: GroupSearch | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.insecureNoSSL and self.startTLS:
            raise PydanticCustomError("ldap_tls", "insecureNoSSL and startTLS exclude each other")
        if self.rootCAData:
            try:
                base64.b64decode(self.rootCAData, validate=True)
            except (binascii.Error, ValueError):
                raise PydanticCustomError("ldap_ca", "rootCAData must be base64-encoded PEM") from None
        if bool(self.clientCert) != bool(self.clientKey):
            raise PydanticCustomError("ldap_client_cert", "clientCert and clientKey go together")
        if self.clientCert and self.insecureNoSSL:
            raise PydanticCustomError(
                "ldap_client_cert", "clientCert needs TLS (LDAPS or startTLS), not insecureNoSSL"
            )
        return self


def _open(entry: ConnectorSettings, config: LDAPConfig, services: ConnectorServices, at: Loc) -> Connector:
    try:
        return LDAPConnector(entry.id, entry.name, config)
    except ClientCertError as exc:
        raise config_problem((*at, "clientCert"), str(exc)) from exc
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise config_problem((*at, "rootCA"), f"cannot use the CA certificate: {exc}") from exc


TYPE = ConnectorType(name="ldap", config=LDAPConfig, open=_open)


def _filter(base: str) -> str:
    base = base.strip()
    return base if not base or base.startswith("(") else f"({base})"


def user_filter(search: UserSearch, username: str) -> str:
    """The user search filter for a typed ``username`` (escaped)."""
    value = escape_filter(username)
    attrs = [a.strip() for a in search.username.split(",") if a.strip()]
    match = "".join(f"({a}={value})" for a in attrs)
    if len(attrs) > 1:
        match = f"(|{match})"
    return f"(&{_filter(search.filter)}{match})"


class ClientCertError(ValueError):
    """``clientCert`` / ``clientKey`` cannot be used (unreadable, not PEM, key does not match)."""


def check_client_cert(cert_file: str, key_file: str) -> None:
    """Load the client certificate and key once, so that a bad pair fails at start-up, not at a login."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
    except OSError as exc:  # ssl.SSLError is an OSError
        reason = (
            exc.strerror if exc.strerror and not isinstance(exc, ssl.SSLError) else "not a matching PEM pair"
        )
        raise ClientCertError(f"cannot use {cert_file} with {key_file}: {reason}") from exc


def _unreachable(exc: Exception) -> bool:
    """Whether ldap3's ``exc`` means the server could not be reached (refused, reset, timed out, the
    session cut), rather than reached and failing (TLS, a refused bind). ldap3 gives its socket errors
    the type of the error they wrap too (``LDAPSocketOpenError`` + ``ConnectionRefusedError``)."""
    from ldap3.core import exceptions as ldap_errors

    if isinstance(exc, ssl.SSLError):
        return False
    return isinstance(
        exc,
        ConnectionError
        | TimeoutError
        | ldap_errors.LDAPSessionTerminatedByServerError
        | ldap_errors.LDAPResponseTimeoutError,
    )


@dataclass(frozen=True, slots=True)
class Entry:
    dn: str
    attributes: dict[str, list[str]]

    def first(self, name: str) -> str:
        if name.upper() == "DN":
            return self.dn
        for key, values in self.attributes.items():
            if key.lower() == name.lower() and values:
                return str(values[0])
        return ""

    def all(self, name: str) -> list[str]:
        if name.upper() == "DN":
            return [self.dn]
        return next((list(map(str, v)) for k, v in self.attributes.items() if k.lower() == name.lower()), [])


class LDAPConnector:
    """An LDAP directory as a :class:`PasswordConnector`, :class:`AccountConnector` and
    :class:`RefreshConnector`."""

    def __init__(self, id: str, name: str, config: LDAPConfig) -> None:
        import ldap3

        self._id, self._name, self.config = id, name or "LDAP", config
        host, _, port = config.host.rpartition(":") if ":" in config.host else (config.host, "", "")
        default_port = 389 if (config.insecureNoSSL or config.startTLS) else 636
        self._host, self._port = host, int(port) if port.isdigit() else default_port
        self._tls = None
        if not config.insecureNoSSL:
            ca_data = base64.b64decode(config.rootCAData).decode() if config.rootCAData else None
            if config.clientCert:
                check_client_cert(config.clientCert, config.clientKey)
            self._tls = ldap3.Tls(
                validate=ssl.CERT_NONE if config.insecureSkipVerify else ssl.CERT_REQUIRED,
                ca_certs_file=config.rootCA or None,
                ca_certs_data=ca_data,
                local_certificate_file=config.clientCert or None,
                local_private_key_file=config.clientKey or None,
                version=ssl.PROTOCOL_TLS_CLIENT,
            )
        self._idle: list[ldap3.Connection] = []
        self._slots = asyncio.Semaphore(POOL_SIZE)

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def prompt(self) -> str:
        return self.config.usernamePrompt

    @property
    def where(self) -> str:
        return f"{self._host}:{self._port}"

    # --- connections ------------------------------------------------------------------------------

    def _server(self) -> ldap3.Server:
        """A new ``ldap3.Server`` for one connection (see the module docstring: no remembered outage)."""
        import ldap3

        return ldap3.Server(
            self._host,
            port=self._port,
            use_ssl=not (self.config.insecureNoSSL or self.config.startTLS),
            tls=self._tls,
            connect_timeout=CONNECT_TIMEOUT,
            get_info=ldap3.NONE,
        )

    def _connect(self, user: str | None, password: str | None) -> ldap3.Connection:
        """Open (and StartTLS) a connection and bind; raises ldap3 errors (translated by the caller)."""
        import ldap3
        from ldap3.core import exceptions as ldap_errors

        conn = ldap3.Connection(
            self._server(),
            user=user or None,
            password=password if user else None,
            auto_bind=ldap3.AUTO_BIND_NONE,
            receive_timeout=RECEIVE_TIMEOUT,
            read_only=True,
            raise_exceptions=False,
        )
        try:
            conn.open()
            if self.config.startTLS and not conn.start_tls():
                raise ldap_errors.LDAPStartTLSError("StartTLS refused by the server")
            if not conn.bind():
                reason = conn.result.get("description", "bind failed") if conn.result else "bind failed"
                raise ldap_errors.LDAPBindError(str(reason))
        except BaseException:
            conn.unbind()
            raise
        return conn

    def _fail(self, exc: Exception) -> UpstreamFailed:
        from ldap3.core import exceptions as ldap_errors

        if isinstance(exc, ldap_errors.LDAPBindError):
            who = "bindDN" if self.config.bindDN else "anonymous"
            return UpstreamFailed(f"LDAP server {self.where} refused the {who} bind: {exc}")
        if isinstance(exc, ldap_errors.LDAPStartTLSError):
            return UpstreamFailed(f"LDAP server {self.where}: StartTLS failed ({exc})")
        if _unreachable(exc):
            return UpstreamUnavailable(f"LDAP server {self.where} unreachable: {exc}")
        return UpstreamFailed(f"LDAP server {self.where}: TLS or connection failed: {exc}")

    async def _search(
        self, base: str, filt: str, scope: str, attrs: list[str], limit: int
    ) -> tuple[list[Entry], bool]:
        """Search on a pooled service connection; ``(entries, more_than_limit)``."""
        from ldap3.core import exceptions as ldap_errors

        async with self._slots:
            for attempt in (0, 1):
                conn = self._idle.pop() if self._idle else None
                try:
                    if conn is None:
                        conn = await asyncio.to_thread(self._connect, self.config.bindDN, self.config.bindPW)
                    found = await asyncio.to_thread(
                        functools.partial(self._do_search, conn, base, filt, scope, attrs, limit=limit)
                    )
                except ldap_errors.LDAPException as exc:
                    if conn is not None:
                        await asyncio.to_thread(conn.unbind)
                    if attempt or isinstance(exc, ldap_errors.LDAPBindError):
                        raise self._fail(exc) from exc
                    continue
                self._idle.append(conn)
                return found
        raise AssertionError("unreachable")

    @staticmethod
    def _do_search(
        conn: ldap3.Connection, base: str, filt: str, scope: str, attrs: list[str], *, limit: int
    ) -> tuple[list[Entry], bool]:
        import ldap3
        from ldap3.core import exceptions as ldap_errors

        level = ldap3.LEVEL if scope == "one" else ldap3.SUBTREE
        ok = conn.search(
            base, filt, search_scope=level, attributes=attrs or [ldap3.NO_ATTRIBUTES], size_limit=limit
        )
        code = conn.result.get("result") if conn.result else None
        if not ok and code not in (0, 4, 32):  # success, sizeLimitExceeded, noSuchObject
            if conn.closed or code is None:
                raise ldap_errors.LDAPSessionTerminatedByServerError("connection lost")
            raise ldap_errors.LDAPOperationResult(description=str(conn.result.get("description")))
        entries = [
            Entry(
                str(r["dn"]),
                {k: v if isinstance(v, list) else [v] for k, v in dict(r.get("attributes", {})).items()},
            )
            for r in conn.response or []
            if r.get("type") == "searchResEntry"
        ]
        return entries, code == 4

    def _check_password(self, dn: str, password: str) -> bool:
        from ldap3.core import exceptions as ldap_errors

        try:
            conn = self._connect(dn, password)
        except ldap_errors.LDAPBindError:
            return False
        conn.unbind()
        return True

    async def close(self) -> None:
        """Unbind every pooled connection."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await asyncio.to_thread(conn.unbind)

    # --- logins -----------------------------------------------------------------------------------

    def _user_attrs(self) -> list[str]:
        s = self.config.userSearch
        names = [s.idAttr, s.emailAttr, s.nameAttr, s.preferredUsernameAttr]
        if self.config.groupSearch is not None:
            names += [m.userAttr for m in self.config.groupSearch.matchers]
        return sorted({n for n in names if n and n.upper() != "DN"})

    async def _find_user(self, username: str) -> Entry | None:
        s = self.config.userSearch
        entries, more = await self._search(s.baseDN, user_filter(s, username), s.scope, self._user_attrs(), 2)
        if len(entries) > 1 or more:
            raise UpstreamFailed(f"LDAP user search found several entries for one name on {self.where}")
        return entries[0] if entries else None

    async def account(self, username: str) -> str | None:
        """The DN of the entry that ``username`` names (by any ``userSearch.username`` attribute), found
        without a bind: failed logins are counted per entry, whichever of its names was typed."""
        if not username.strip():
            return None
        entry = await self._find_user(username)
        return entry.dn if entry is not None else None

    async def login(self, scopes: tuple[str, ...], username: str, password: str) -> Identity | None:
        from ldap3.core import exceptions as ldap_errors

        if not password or not username.strip():
            return None
        entry = await self._find_user(username)
        if entry is None:
            return None
        try:
            ok = await asyncio.to_thread(self._check_password, entry.dn, password)
        except ldap_errors.LDAPException as exc:
            raise self._fail(exc) from exc
        if not ok:
            return None
        return await self._identity(scopes, entry, username)

    async def refresh(self, scopes: tuple[str, ...], identity: Identity) -> Identity:
        try:
            data = json.loads(identity.connector_data)
            dn, username = str(data["dn"]), str(data["username"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LoginRefused("this login holds no LDAP entry; sign in again") from exc
        entry = await self._find_user(username)
        if entry is None:
            raise LoginRefused(f"the LDAP user {username} no longer exists")
        if entry.dn.lower() != dn.lower():
            raise LoginRefused(f"the LDAP entry of {username} changed; sign in again")
        return await self._identity(scopes, entry, username)

    async def _identity(self, scopes: tuple[str, ...], entry: Entry, username: str) -> Identity:
        s = self.config.userSearch
        user_id = entry.first(s.idAttr)
        if not user_id:
            raise UpstreamFailed(f"LDAP entry has no '{s.idAttr}' attribute (userSearch.idAttr)")
        email = entry.first(s.emailAttr)
        if not email and s.emailSuffix:
            email = f"{username}@{s.emailSuffix}"
        if not email:
            raise UpstreamFailed(f"LDAP entry has no '{s.emailAttr}' attribute (userSearch.emailAttr)")
        checked_email(email, f"the LDAP directory ('{s.emailAttr}' of the entry, or emailSuffix)")
        groups = await self._groups(entry) if "groups" in scopes and self.config.groupSearch else []
        return Identity(
            user_id=user_id,
            username=(entry.first(s.nameAttr) if s.nameAttr else "") or username,
            email=email,
            email_verified=True,
            preferred_username=entry.first(s.preferredUsernameAttr) if s.preferredUsernameAttr else "",
            groups=tuple(groups),
            connector_data=json.dumps({"dn": entry.dn, "username": username}),
        )

    async def _groups(self, entry: Entry) -> list[str]:
        g = self.config.groupSearch
        assert g is not None
        names: dict[str, None] = {}
        for matcher in g.matchers:
            for value in entry.all(matcher.userAttr):
                filt = f"(&{_filter(g.filter)}({matcher.groupAttr}={escape_filter(value)}))"
                groups, _ = await self._search(g.baseDN, filt, g.scope, [g.nameAttr], 0)
                for group in groups:
                    names.update(dict.fromkeys(group.all(g.nameAttr)))
        return list(names)

"""The configuration files of every server the bench runs, written into its temporary directory.

Each function returns text (pure, testable); :class:`Layout` places the files and names the ports.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml

PROVIDER_HOST = "kkp.localhost"
APP_HOST = "app.localhost"
REDIS_APP_HOST = "redis-app.localhost"  # the same upstream, sessions in Redis (the full proxy table only)
APACHE_HOST = "apache.localhost"
BENCH_REDIRECT = "http://rp.localhost/cb"  # the token benches' client: codes are minted, never redirected
EMAIL = "bench@example.com"
BODY_BYTES = 1024
#: What a browser sends besides Host and Cookie when it opens a page (Chromium 131, a navigation): the
#: browser-like configurations add these to wrk's requests, where a proxy's per-header work shows.
BROWSER_HEADERS = [
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Language: en-US,en;q=0.9",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Connection: keep-alive",
    "Upgrade-Insecure-Requests: 1",
    "Sec-Fetch-Dest: document",
    "Sec-Fetch-Mode: navigate",
    "Sec-Fetch-Site: none",
    "Sec-Fetch-User: ?1",
    "Priority: u=0, i",
    "Cache-Control: max-age=0",
    'sec-ch-ua: "Chromium";v="131", "Not_A Brand";v="24"',
    "sec-ch-ua-mobile: ?0",
    'sec-ch-ua-platform: "Linux"',
]
APACHE_MODULES = "/usr/lib/apache2/modules"
#: Users the token benches mint codes for: idgate keeps at most 10 refresh families per user and client, so
#: enough users that a run's exchanges start families without evicting older ones (a person logs in now
#: and then, not hundreds of times a minute), and its refresh tokens never run out (a token used twice is a
#: replay, which revokes its family).
TOKEN_USERS = 4000
FAMILIES_PER_USER = 10


def token_user(i: int) -> tuple[str, str]:
    """(userID, email) of token-bench user ``i``."""
    return f"bench-user-{i}", f"bench{i}@example.com"


async def add_token_users(storage_url: str, password_hash: str) -> None:
    """The token benches' users in idgate's storage, as ``idgate user add`` keeps local users: thousands of
    people are not written into a Helm values file (whose parsing would also weigh on idle RSS)."""
    from idgate.storage import open_storage
    from idgate.storage.base import Password

    storage = await open_storage(storage_url)
    try:
        users = [token_user(i) for i in range(TOKEN_USERS)]
        await storage.create(
            *(
                Password(id=email, email=email, hash=password_hash, username=f"bench{i}", user_id=uid)
                for i, (uid, email) in enumerate(users)
            )
        )
    finally:
        await storage.close()


@dataclass
class Secrets:
    """Random per run: nothing the bench writes is reused elsewhere."""

    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    app_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    apache_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    rp_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    encryption_key: str = field(default_factory=lambda: secrets.token_hex(16))  # 32 characters
    crypto_passphrase: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def password_hash(self, cost: int = 10) -> str:
        return bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(cost, prefix=b"2a")).decode()


@dataclass
class Ports:
    upstream: int
    nginx_proxy: int
    idgate: dict[str, int]  # variant name -> port
    apache: dict[str, int]  # session type -> port
    oidc_provider: int
    nginx_auth: int = 0
    nginx_auth_nocache: int = 0
    floor: dict[str, int] = field(default_factory=dict)  # bench/floor.py: name -> port
    redis: int = 0  # redis-server for the Redis-sessions deployment (0: none)
    nginx_tls: int = 0  # the TLS rows (0: none): nginx proxy_pass with ssl on its listener,
    apache_tls: int = 0  # Apache + mod_auth_openidc (server-cache) with mod_ssl,
    idgate_tls: dict[str, int] = field(default_factory=dict)  # idgate with idgate.tls: variant -> port
    nginx_log: int = 0  # the default-logging rows (0: none): nginx proxy_pass with its default access_log,
    apache_log: int = 0  # Apache + mod_auth_openidc (server-cache) with Debian's default CustomLog

    @property
    def issuer_port(self) -> int:
        return next(iter(self.idgate.values()))


def nginx_common(tmp: Path, name: str) -> str:
    run = tmp / name
    return f"""
worker_processes 1;
daemon off;
master_process on;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 4096; }}
"""


def access_log_path(tmp: Path, name: str) -> Path:
    """Where nginx or Apache run ``name`` writes its access log when it has one (the default-logging rows)."""
    return tmp / name / "access.log"


def nginx_http_paths(tmp: Path, name: str, *, access_log: bool = False) -> str:
    """The ``http`` block's paths; ``access_log``: nginx's default (``access_log FILE;``, the ``combined``
    format, unbuffered, as Debian's ``nginx.conf`` has it), else ``access_log off``."""
    run = tmp / name
    return f"""
    access_log {access_log_path(tmp, name) if access_log else "off"};
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
"""


def upstream_nginx_conf(tmp: Path, port: int) -> str:
    """One nginx worker serving ``/`` (and any path) as a 1 KiB file: the ceiling of the machine."""
    return (
        nginx_common(tmp, "upstream")
        + f"""
http {{
{nginx_http_paths(tmp, "upstream")}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        root {tmp}/www;
        location / {{ try_files /file.bin =404; }}
    }}
}}
"""
    )


def proxy_nginx_conf(
    tmp: Path, port: int, upstream_port: int, *, tls: Certificate | None = None, logs: bool = False
) -> str:
    """nginx plain ``proxy_pass`` with a keep-alive pool (the reference for the ratios); with ``tls``, the
    same with ``ssl`` on the listener (nginx's default protocols and ciphers); with ``logs``, the same
    writing its default access log (run ``nginx-proxy-log``)."""
    ssl = (
        f"""
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};"""
        if tls
        else ""
    )
    name = "nginx-tls" if tls else ("nginx-proxy-log" if logs else "nginx-proxy")
    return (
        nginx_common(tmp, name)
        + f"""
http {{
{nginx_http_paths(tmp, name, access_log=logs)}
    upstream up {{ server 127.0.0.1:{upstream_port}; keepalive 64; keepalive_requests 1000000; }}
    server {{
        listen 127.0.0.1:{port}{" ssl" if tls else ""} backlog=4096;{ssl}
        location / {{
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
"""
    )


def rendered_nginx_conf(values: Path, run: Path, port: int, idgate_port: int, *, cache_seconds: int) -> str:
    """nginx in front, as ``idgate render nginx --standalone RUN`` writes it for the bench's values:
    ``auth_request`` to idgate's ``/oauth/auth`` (its 202s cached ``cache_seconds``; 0: asked every time),
    then ``proxy_pass`` over a keep-alive pool. Without an access log, as every other configuration here."""
    from idgate.config import load_config
    from idgate.deploy.nginx import NginxOptions, render_nginx

    options = NginxOptions(
        listen=f"127.0.0.1:{port}",
        idgate=f"127.0.0.1:{idgate_port}",
        standalone=str(run),
        cache_seconds=cache_seconds,
        access_log=False,
    )
    return render_nginx(load_config(values, env={}), options)


def apache_name(session_type: str, *, tls: bool = False, logs: bool = False) -> str:
    """The name of an Apache run (its directory, its process): ``apache-server-cache-tls`` and so on."""
    return f"apache-{session_type}" + ("-tls" if tls else "") + ("-log" if logs else "")


#: Debian's ``apache2.conf`` defines this format and its ``000-default.conf`` logs every request in it
#: (``%O`` is mod_logio's, compiled into Debian's apache2 as mod_log_config is).
APACHE_COMBINED = 'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined'


def apache_conf(
    tmp: Path,
    *,
    session_type: str,
    port: int,
    upstream_port: int,
    issuer: str,
    client_secret: str,
    passphrase: str,
    tls: Certificate | None = None,
    logs: bool = False,
) -> str:
    """Apache (event MPM) + mod_auth_openidc in front of the upstream, ``ProxyPass`` with keep-alive; with
    ``tls``, mod_ssl on the listener (loaded here, no ``a2enmod``; its default protocols and ciphers);
    with ``logs``, Debian's default access log (``CustomLog FILE combined``)."""
    name = apache_name(session_type, tls=tls is not None, logs=logs)
    run = tmp / name
    custom_log = f"{APACHE_COMBINED}\nCustomLog {access_log_path(tmp, name)} combined\n" if logs else ""
    scheme = "https" if tls else "http"
    ssl = (
        f"""
SSLEngine on
SSLCertificateFile {tls.cert}
SSLCertificateKeyFile {tls.key}
SSLSessionCache shmcb:{run}/ssl_scache(512000)
"""
        if tls
        else ""
    )
    modules = [
        "mpm_event",
        "authz_core",
        "authz_user",
        "authn_core",
        "auth_openidc",
        "proxy",
        "proxy_http",
        *(["socache_shmcb", "ssl"] if tls else []),
    ]
    loads = "\n".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in modules)
    return f"""{loads}
ServerRoot {run}
ServerName {APACHE_HOST}
Listen 127.0.0.1:{port}
PidFile {run}/apache.pid
ErrorLog {run}/error.log
LogLevel warn
{custom_log}User www-data
Group www-data
Mutex file:{run} default
DefaultRuntimeDir {run}
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 75
{ssl}
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID apache
OIDCClientSecret {client_secret}
OIDCRedirectURI {scheme}://{APACHE_HOST}:{port}/oauth/callback
OIDCCryptoPassphrase {passphrase}
OIDCScope "openid email"
OIDCSessionType {session_type}
OIDCPKCEMethod S256
OIDCDefaultURL {scheme}://{APACHE_HOST}:{port}/
OIDCCacheType shm
OIDCSessionInactivityTimeout 86400
OIDCSessionMaxDuration 86400
OIDCPassIDTokenAs claims

<Location />
    AuthType openid-connect
    Require valid-user
</Location>
ProxyPass /oauth/callback !
ProxyPass / http://127.0.0.1:{upstream_port}/ keepalive=On
ProxyPassReverse / http://127.0.0.1:{upstream_port}/
"""


def idgate_values(tmp: Path, ports: Ports, sec: Secrets, password_hash: str) -> dict[str, Any]:
    """One values file for every idgate instance (they differ by ``--listen`` and ``--workers``)."""
    issuer_port = ports.issuer_port
    apache_uris = [f"http://{APACHE_HOST}:{p}/oauth/callback" for p in ports.apache.values()]
    if ports.apache_tls:
        apache_uris.append(f"https://{APACHE_HOST}:{ports.apache_tls}/oauth/callback")
    if ports.apache_log:
        apache_uris.append(f"http://{APACHE_HOST}:{ports.apache_log}/oauth/callback")
    return {
        "dex": {
            "ingress": {"host": f"{PROVIDER_HOST}:{issuer_port}", "path": "/dex", "scheme": "http"},
            "staticPasswords": [
                {"email": EMAIL, "hash": password_hash, "username": "bench", "userID": sec.user_id}
            ],
            "clients": [
                {
                    "id": "app",
                    "name": "App",
                    "secret": sec.app_secret,
                    "RedirectURIs": [f"http://{APP_HOST}:{issuer_port}/oauth/callback"],
                },
                {"id": "apache", "name": "Apache", "secret": sec.apache_secret, "RedirectURIs": apache_uris},
                {
                    "id": "rp",
                    "name": "Relying party",
                    "secret": sec.rp_secret,
                    "RedirectURIs": [BENCH_REDIRECT],
                },
                *(
                    [
                        {
                            "id": "redis-app",
                            "name": "App (Redis sessions)",
                            "secret": sec.app_secret,
                            "RedirectURIs": [f"http://{REDIS_APP_HOST}:{issuer_port}/oauth/callback"],
                        }
                    ]
                    if ports.redis
                    else []
                ),
            ],
        },
        "iap": {
            "oidc_issuer_url": f"http://{PROVIDER_HOST}:{issuer_port}/dex",
            "deployments": {
                "app": app_deployment(sec, ports.upstream, f"{APP_HOST}:{issuer_port}"),
                **({"redis-app": redis_deployment(ports, sec)} if ports.redis else {}),
            },
        },
        "idgate": {
            "listen": f"127.0.0.1:{issuer_port}",
            "data_dir": str(tmp / "idgate-data"),
            "storage": storage_url(tmp),
        },
    }


def app_deployment(sec: Secrets, upstream_port: int, host: str) -> dict[str, Any]:
    """Deployment ``app``: the 1 KiB upstream on loopback behind ``host``, anyone who signs in passes."""
    return {
        "name": "app",
        "client_id": "app",
        "client_secret": sec.app_secret,
        "encryption_key": sec.encryption_key,
        "upstream_service": "127.0.0.1",
        "upstream_port": upstream_port,
        "ingress": {"host": host},
        "config": {"scope": "openid email", "email_domains": ["*"], "pass_user_headers": True},
    }


def redis_argv(port: int, directory: Path) -> list[str]:
    """A redis-server of the bench's own on loopback ``port``, without persistence."""
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return [*argv, "--dir", str(directory)]


def redis_deployment(ports: Ports, sec: Secrets) -> dict[str, Any]:
    """``app``'s twin (same upstream, same person) whose sessions live in the bench's redis-server."""
    return {
        "name": "redis-app",
        "client_id": "redis-app",
        "client_secret": sec.app_secret,
        "encryption_key": sec.encryption_key,
        "upstream_service": "127.0.0.1",
        "upstream_port": ports.upstream,
        "ingress": {"host": f"{REDIS_APP_HOST}:{ports.issuer_port}"},
        "config": {
            "scope": "openid email",
            "email_domains": ["*"],
            "pass_user_headers": True,
            "session_store_type": "redis",
            "redis_connection_url": f"redis://127.0.0.1:{ports.redis}/0",
        },
    }


@dataclass(frozen=True)
class Certificate:
    """The PEM files of the TLS rows' certificate (the same one for nginx, Apache and idgate)."""

    cert: Path
    key: Path


#: The names the certificate is for: what the TLS rows are reached as (wrk asks for 127.0.0.1).
TLS_NAMES = ("localhost", APP_HOST, APACHE_HOST, PROVIDER_HOST)


def make_certificate(directory: Path) -> Certificate:
    """A throw-away self-signed certificate, ECDSA P-256 (SHA-256), for :data:`TLS_NAMES` and 127.0.0.1,
    valid for a day; its key unencrypted, readable by the servers' unprivileged children."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idgate bench")])
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in TLS_NAMES]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    out = Certificate(directory / "tls.crt", directory / "tls.key")
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    out.key.chmod(0o644)  # a throw-away key in the bench's own directory; nginx/Apache workers read it too
    return out


def tls_values(values: dict[str, Any], tls: Certificate) -> dict[str, Any]:
    """``values`` with ``idgate.tls`` on (for the idgate TLS rows; the rest as in the plain rows)."""
    return {**values, "idgate": {**values["idgate"], "tls": {"cert": str(tls.cert), "key": str(tls.key)}}}


def storage_url(tmp: Path) -> str:
    return f"sqlite:///{tmp}/idgate-data/idgate.db"


def write_values(path: Path, values: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(values, sort_keys=False))

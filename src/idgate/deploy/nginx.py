"""``idgate render nginx``: nginx in front, idgate deciding who passes (``auth_request``).

For people who keep nginx as the front door: nginx proxies each protected service itself and asks idgate,
with a subrequest to ``/oauth/auth`` on the same host, whether the request may pass. idgate answers 202 with
``X-Auth-Request-User``/``-Email``/``-Groups``/``-Preferred-Username`` (passed on to the upstream), 401 (no
session: nginx hands the request to ``/oauth/start``, the page's address in ``X-Forwarded-Uri``)
or 403. ``/oauth/*`` (sign-in, callback, sign-out) is proxied to idgate, and so is the provider's host. Per
deployment::

    server {
        server_name <ingress.host>;
        location = /oauth/auth { internal; proxy_pass http://idgate; ...no body...; proxy_cache ...; }
        location /oauth/       { proxy_pass http://idgate; }
        location ~ <skip_auth_regex> { proxy_pass <upstream>; ...identity headers emptied... }
        location / {
            auth_request /oauth/auth;
            auth_request_set $idgate_user $upstream_http_x_auth_request_user;   (and email, groups, username)
            auth_request_set $idgate_cookie_0 $upstream_http_x_idgate_set_cookie_0;  (0..7)
            add_header Set-Cookie $idgate_cookie_0 always;                           (0..7)
            error_page 401 = /oauth/nginx-sign-in;  (internal: /oauth/start, X-Forwarded-Uri)
            proxy_set_header X-Forwarded-User $idgate_user; ...
            proxy_pass http://deployment_<key>;   (upstream_service:upstream_port, a keep-alive pool)
        }
    }

**A refreshed session** (``cookie_refresh``) comes back on ``/oauth/auth``'s answer as ``Set-Cookie``, each
one repeated as ``X-Idgate-Set-Cookie-<n>`` (:data:`~idgate.proxy.headers.SET_COOKIE_COPY`): nginx's
``$upstream_http_set_cookie`` holds only the first of several Set-Cookie headers (before 1.23) or all of
them joined with ``", "`` (1.23 and later), and a long session is several cookies (``_0``, ``_1``...).
The cleared cookies of a 401 are not copied: the sign-in that follows clears them itself.

**The answers are cached** (``cache_seconds``, default 5 s; 0: off) in ``proxy_cache_path`` (``cache_dir``,
default ``/var/cache/nginx/idgate``; with ``standalone``, ``<dir>/auth-cache``):

- keyed on ``$http_host``, ``$http_authorization`` and the whole ``$http_cookie``: everything idgate reads
  to decide. Not on the session cookie alone: ``$cookie_<name>`` cannot name a ``__Host-``/``__Secure-`` or
  hyphenated cookie (a ``-`` ends an nginx variable name), and a long session is split over
  ``<name>_0``, ``<name>_1``...; a key that left out bytes idgate reads could let two different
  credentials share an answer. The cost: a change to any other cookie of the site is one more miss.
- only 202s are kept (``proxy_cache_valid 202``); 401 and 403 are asked again each time. nginx never stores
  an answer that sets a cookie (a refresh, a clear): ``Set-Cookie`` is not in ``proxy_ignore_headers``,
  only idgate's ``Cache-Control: no-store`` (meant for browsers) is. A request without any cookie and
  without ``Authorization`` neither reads nor writes the cache.
- the trade-off: for up to ``cache_seconds`` after a sign-out (or a Redis session's deletion, or a change
  to the policy), a copy of the old cookie still passes nginx; the browser itself has dropped it. With the
  cookie store the same copy passes idgate until it expires anyway; with Redis the window is the cache time.
- deployments whose 202 carries tokens (``set_authorization_header``, or ``set_xauthrequest`` with
  ``pass_access_token``) are not cached: the tokens would be written to the cache directory.

``skip_auth_regex`` paths skip the subrequest (``location ~ <regex>``); client-sent identity headers are
emptied there too. The output is an ``http {}`` fragment for ``/etc/nginx/conf.d/``; ``standalone`` wraps it
into a whole ``nginx.conf`` whose pid file, logs, temporary files and cache live in one directory (what the
tests run with ``nginx -c``). With ``resolver``, upstream names are resolved per request (Kubernetes Services
that come and go) instead of once at start; without it each upstream is a keep-alive pool.

**What the render refuses or warns about** (:func:`nginx_problems`, pure: the options matter, so these are
not ``idgate check``'s):

- error: nginx would listen where idgate does (``--listen 4180`` with ``idgate.listen: 127.0.0.1:4180``,
  as a file from ``idgate init --local`` invites): nginx would pass every request to itself;
- warning: the file's hosts name a port (``localhost:4180``, as ``init --local`` writes them) other than
  nginx's: the issuer and the redirect URIs lead browsers to that port, past nginx;
- warning: an ``upstream_service`` that is a Kubernetes Service name (``*.svc``, ``*.cluster.local``)
  without ``resolver``: nginx resolves upstream names once at start with the system's resolver, so
  outside the cluster it does not start (``nginx -t``: "host not found in upstream").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from idgate.config.kkp import deployments, effective_options
from idgate.config.model import Config
from idgate.errors import Problem
from idgate.proxy.headers import SET_COOKIE_COPY
from idgate.sessions.sealing import MAX_CHUNKS
from idgate.settings import split_host

__all__ = ["DEFAULT_CACHE_DIR", "NginxOptions", "nginx_problems", "render_nginx"]

DEFAULT_CACHE_DIR = "/var/cache/nginx/idgate"
CACHE_ZONE = "idgate_auth"

AUTH_HEADERS = (
    ("idgate_user", "X-Auth-Request-User", "X-Forwarded-User"),
    ("idgate_email", "X-Auth-Request-Email", "X-Forwarded-Email"),
    ("idgate_groups", "X-Auth-Request-Groups", "X-Forwarded-Groups"),
    ("idgate_preferred_username", "X-Auth-Request-Preferred-Username", "X-Forwarded-Preferred-Username"),
)
#: Headers only idgate may set, emptied (not sent) wherever nginx does not set them from idgate's answer.
CLEARED_HEADERS = ("X-Forwarded-Access-Token", "X-Auth-Request-Access-Token", "X-Idgate-Assertion")


@dataclass(frozen=True, slots=True)
class NginxOptions:
    """``listen``: nginx's port; ``idgate``: where idgate listens (default ``idgate.listen``);
    ``resolver``: a DNS server for per-request resolution; ``standalone``: a directory for a whole
    ``nginx.conf`` (pid, logs, temp files, cache); ``cache_seconds``: how long a 202 of ``/oauth/auth`` is
    kept (0: no cache); ``cache_dir``: where (default :data:`DEFAULT_CACHE_DIR`, or inside
    ``standalone``); ``access_log``: ``False`` writes none (``standalone`` only)."""

    listen: str = "80"
    idgate: str | None = None
    resolver: str | None = None
    standalone: str | None = None
    cache_seconds: int = 5
    cache_dir: str | None = None
    access_log: bool = True


def _quote(value: str) -> str:
    """An nginx string literal: double quotes, ``\\`` and ``"`` escaped (regexes keep their ``$``: nginx
    does not expand variables in a location's regex)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _variable(header: str) -> str:
    """nginx's variable for an upstream response header: ``$upstream_http_x_auth_request_user``."""
    return "$upstream_http_" + header.lower().replace("-", "_")


def _to_idgate(indent: str) -> list[str]:
    return [
        f"{indent}proxy_pass http://idgate;",
        f"{indent}proxy_http_version 1.1;",
        f'{indent}proxy_set_header Connection "";',
        f"{indent}proxy_set_header Host $http_host;",
        f"{indent}proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"{indent}proxy_set_header X-Forwarded-Proto $scheme;",
    ]


#: Where nginx sends a 401 (``error_page``): idgate's ``/oauth/start``, told the page asked for in
#: ``X-Forwarded-Uri`` (read from a trusted proxy, validated like ``rd``). Not
#: ``/oauth/start?rd=$request_uri``: nginx cannot URL-encode, so a query with ``&`` would lose everything
#: after its first ``&`` (the rest read as parameters of ``/oauth/start``).
SIGN_IN = "/oauth/nginx-sign-in"


def _sign_in(indent: str) -> list[str]:
    """``location = /oauth/nginx-sign-in``: internal only; ``/oauth/start`` without the page's own query
    (which could carry an ``rd`` of its own), the whole page address in a header idgate validates."""
    return [
        f"{indent}internal;",
        f"{indent}rewrite ^ /oauth/start? break;",
        *_to_idgate(indent),
        f"{indent}proxy_set_header X-Forwarded-Uri $request_uri;",
    ]


def _auth_location(cache_seconds: int, indent: str, *, per_path: bool = False) -> list[str]:
    """``location = /oauth/auth``: the subrequest to idgate, without the body, its 202s cached.

    idgate decides about ``X-Forwarded-Method`` ``X-Forwarded-Uri`` (its route rules and skip routes);
    ``per_path``: the deployment has such rules, so the cache is keyed on them too."""
    lines = [
        f"{indent}internal;",
        *_to_idgate(indent),
        f"{indent}proxy_pass_request_body off;",
        f'{indent}proxy_set_header Content-Length "";',
        f"{indent}proxy_set_header X-Forwarded-Uri $request_uri;",
        f"{indent}proxy_set_header X-Forwarded-Method $request_method;",
    ]
    if cache_seconds <= 0:
        return lines
    key = "$http_host $http_authorization $http_cookie"
    if per_path:
        key = "$request_method $request_uri " + key
    return [
        *lines,
        f"{indent}# 202s kept {cache_seconds} s per Host + Authorization + every cookie"
        + (" + method and URI (route rules)" if per_path else "")
        + "; 401/403 never kept.",
        f"{indent}# nginx does not store an answer with Set-Cookie (a refresh): keep Set-Cookie out of",
        f"{indent}# proxy_ignore_headers. idgate's Cache-Control: no-store is for browsers, hence ignored.",
        f"{indent}proxy_cache {CACHE_ZONE};",
        f'{indent}proxy_cache_key "{key}";',
        f"{indent}proxy_cache_valid 202 {cache_seconds}s;",
        f"{indent}proxy_cache_methods GET HEAD;",
        f"{indent}proxy_ignore_headers Cache-Control Expires X-Accel-Expires;",
        f"{indent}proxy_cache_bypass $idgate_anonymous;",
        f"{indent}proxy_no_cache $idgate_anonymous;",
        f"{indent}proxy_buffer_size 16k;  # room for the key (every cookie) in the cached answer",
        f"{indent}proxy_buffers 4 16k;",
    ]


def _protected(upstream: str, resolver: bool, indent: str) -> list[str]:
    lines = [f"{indent}auth_request /oauth/auth;"]
    for var, header, _ in AUTH_HEADERS:
        lines.append(f"{indent}auth_request_set ${var} {_variable(header)};")
    lines.append(f"{indent}# a refreshed session's cookies, back to the browser (X-Idgate-Set-Cookie-<n>)")
    for i in range(MAX_CHUNKS):
        lines.append(f"{indent}auth_request_set $idgate_cookie_{i} {_variable(f'{SET_COOKIE_COPY}{i}')};")
    for i in range(MAX_CHUNKS):
        lines.append(f"{indent}add_header Set-Cookie $idgate_cookie_{i} always;")
    lines.append(f"{indent}error_page 401 = {SIGN_IN};")
    for var, header, forwarded in AUTH_HEADERS:
        lines.append(f"{indent}proxy_set_header {header} ${var};")
        lines.append(f"{indent}proxy_set_header {forwarded} ${var};")
    return lines + _pass(upstream, resolver, indent)


def _skipped(upstream: str, resolver: bool, indent: str) -> list[str]:
    """A ``skip_auth_regex`` path: no subrequest, and no identity header from the client either."""
    lines = []
    for _, header, forwarded in AUTH_HEADERS:
        lines.append(f'{indent}proxy_set_header {header} "";')
        lines.append(f'{indent}proxy_set_header {forwarded} "";')
    return lines + _pass(upstream, resolver, indent)


def _pass(upstream: str, resolver: bool, indent: str) -> list[str]:
    lines = [f'{indent}proxy_set_header {header} "";' for header in CLEARED_HEADERS]
    if resolver:  # a variable makes nginx resolve the name per request (with the `resolver` above)
        lines += [f"{indent}set $idgate_upstream {upstream};", f"{indent}proxy_pass $idgate_upstream;"]
    else:
        lines.append(f"{indent}proxy_pass {upstream};")
    return [
        *lines,
        f"{indent}proxy_http_version 1.1;",
        f"{indent}proxy_set_header Host $http_host;",
        f"{indent}proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"{indent}proxy_set_header X-Forwarded-Proto $scheme;",
        f"{indent}proxy_set_header Upgrade $http_upgrade;",
        f"{indent}proxy_set_header Connection $idgate_connection;",
    ]


def _idgate_address(config: Config, options: NginxOptions) -> str:
    host, port = split_host(options.idgate or config.idgate.listen)
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - a wildcard listener is reached on loopback
        host = "127.0.0.1"
    return f"{host}:{port}"


_WILDCARD = frozenset({"", "*", "0.0.0.0", "[::]"})  # noqa: S104 - the wildcard as nginx writes it
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})


def _listen_address(listen: str) -> tuple[str, int | None]:
    """The host and port of nginx's ``listen`` value (``80``, ``127.0.0.1:8080``, ``[::]:443 ssl``...);
    ``("", port)`` for every address; a unix socket has no port."""
    first = listen.split(maxsplit=1)[0] if listen.split() else ""
    if first.startswith("unix:"):
        return first, None
    if first.isdigit():
        return "", int(first)
    host, port = split_host(first)
    return host, 80 if port is None else port


def _same_listener(a: tuple[str, int | None], b: tuple[str, int | None]) -> bool:
    """Whether two listen addresses take the same connections (a wildcard takes every address)."""
    (host_a, port_a), (host_b, port_b) = a, b
    if port_a is None or port_a != port_b:
        return False
    if host_a in _WILDCARD or host_b in _WILDCARD or host_a == host_b:
        return True
    return host_a in _LOOPBACK and host_b in _LOOPBACK


def _cluster_name(name: str) -> bool:
    """A Kubernetes Service name (``grafana.monitoring.svc.cluster.local``, ``grafana.monitoring.svc``)."""
    labels = name.lower().rstrip(".").split(".")
    return "svc" in labels[1:] or name.lower().rstrip(".").endswith(".cluster.local")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def nginx_problems(config: Config, options: NginxOptions) -> list[Problem]:
    """What stops this render or makes it work other than meant (see the module's docstring)."""
    problems: list[Problem] = []
    nginx = _listen_address(options.listen)
    idgate = split_host(_idgate_address(config, options))
    if _same_listener(nginx, idgate):
        moved = f"{idgate[0] if idgate[0] not in _WILDCARD else '127.0.0.1'}:{(idgate[1] or 0) + 1}"
        problems.append(
            Problem(
                "--idgate" if options.idgate else "idgate.listen",
                f"nginx would listen on {options.listen}, where idgate itself listens "
                f"({options.idgate or config.idgate.listen}), and pass every request back to itself. "
                f"Run idgate on another address and point nginx at it: `idgate serve ... --listen {moved}` "
                f"and `idgate render nginx ... --listen {options.listen} --idgate {moved}`",
            )
        )
    problems += _host_ports(config, nginx[1])
    if not options.resolver and config.iap is not None:
        for key, dep in deployments(config.iap):
            name = dep.upstream_service
            if name and not _is_ip(name) and _cluster_name(name):
                problems.append(
                    Problem(
                        f"iap.deployments.{key}.upstream_service",
                        f"{name} is a Kubernetes Service name: nginx resolves upstream names once, at "
                        "start, and outside the cluster it will not start ('host not found in upstream'). "
                        "Give --resolver with the cluster's DNS server (e.g. --resolver 10.96.0.10; "
                        "`kubectl -n kube-system get service kube-dns`) to resolve it per request, "
                        "or set upstream_service to an address nginx can reach",
                        "warning",
                    )
                )
    return problems


def _host_ports(config: Config, nginx_port: int | None) -> list[Problem]:
    """Hosts that name a port nginx does not listen on (one warning: the first, and how many more)."""
    hosts: list[tuple[str, str]] = []
    if config.dex is not None and config.dex.ingress.host:
        hosts.append(("dex.ingress.host", config.dex.ingress.host))
    if config.iap is not None:
        hosts += [
            (f"iap.deployments.{key}.ingress.host", dep.ingress.host) for key, dep in deployments(config.iap)
        ]
    off = [(path, host) for path, host in hosts if split_host(host)[1] not in (None, nginx_port)]
    if not off or nginx_port is None:
        return []
    path, host = off[0]
    port = split_host(host)[1]
    more = f" (and {len(off) - 1} more host{'' if len(off) == 2 else 's'})" if len(off) > 1 else ""
    return [
        Problem(
            path,
            f"{host} names port {port}{more}, but nginx listens on {nginx_port}: the issuer and the redirect "
            f"URIs send browsers to port {port}, past nginx. Render with --listen {port} (and run idgate on "
            "another port: `idgate serve ... --listen 127.0.0.1:PORT`, `--idgate 127.0.0.1:PORT` here), "
            "or drop the port from the hosts",
            "warning",
        )
    ]


def _cache_dir(options: NginxOptions) -> str:
    if options.cache_dir:
        return options.cache_dir
    if options.standalone is not None:
        return options.standalone.rstrip("/") + "/auth-cache"
    return DEFAULT_CACHE_DIR


def _pool_name(key: str) -> str:
    """The ``upstream {}`` block of deployment ``key``: ``deployment_<key>`` (other characters as ``_``)."""
    return "deployment_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


def render_http(config: Config, options: NginxOptions) -> str:
    """The ``http {}`` fragment: the idgate upstream, the provider's server, one server per deployment."""
    cache = options.cache_seconds > 0
    out = [
        "# Rendered by `idgate render nginx`: nginx proxies the services, idgate answers /oauth/auth.",
        "# TLS: add `listen 443 ssl;` and ssl_certificate lines to each server block.",
        "map $http_upgrade $idgate_connection { default upgrade; '' ''; }",
        "upstream idgate {",
        f"    server {_idgate_address(config, options)};",
        "    keepalive 32;",
        "}",
    ]
    if cache:
        out += [
            f"# idgate's 202s, {options.cache_seconds} s per credential: a copy of a cookie still passes",
            "# that long after a sign-out (docs/recipes.md, nginx). nginx's workers must write here.",
            f"proxy_cache_path {_cache_dir(options)} levels=1:2 keys_zone={CACHE_ZONE}:10m max_size=100m"
            " inactive=1m use_temp_path=off;",
            "# no cookie and no Authorization: nothing to key on, never cached",
            'map "$http_cookie$http_authorization" $idgate_anonymous { "" 1; default 0; }',
        ]
    if options.resolver:
        out.append(f"resolver {options.resolver} valid=30s;")
    iap = config.iap
    if iap is not None and not options.resolver:
        for key, dep in deployments(iap):
            out += [
                f"upstream {_pool_name(key)} {{",
                f"    server {dep.upstream_service}:{dep.upstream_port};",
                "    keepalive 16;",
                "}",
            ]
    dex = config.dex
    if dex is not None and dex.ingress.host:
        out += [
            "",
            "server {",
            f"    listen {options.listen};",
            f"    server_name {split_host(dex.ingress.host)[0]};",
            "    location / {",
            *_to_idgate("        "),
            "    }",
            "}",
        ]
    if iap is not None:
        for key, dep in deployments(iap):
            opts = effective_options(iap, dep)
            scheme = "https" if dep.upstream_scheme == "https" else "http"
            target = f"{dep.upstream_service}:{dep.upstream_port}" if options.resolver else _pool_name(key)
            upstream = f"{scheme}://{target}"
            tokens = bool(opts.set_authorization_header or (opts.set_xauthrequest and opts.pass_access_token))
            per_path = bool(dep.routes or opts.skip_auth_routes or opts.skip_auth_preflight)
            auth = _auth_location(0 if tokens else options.cache_seconds, "        ", per_path=per_path)
            if cache and tokens:
                auth.append("        # not cached: this deployment's answers carry tokens")
            out += [
                "",
                f"# iap deployment {dep.name}",
                "server {",
                f"    listen {options.listen};",
                f"    server_name {split_host(dep.ingress.host)[0]};",
                "",
                "    location = /oauth/auth {",
                *auth,
                "    }",
                "    location /oauth/ {",
                *_to_idgate("        "),
                "    }",
                f"    location = {SIGN_IN} {{",
                *_sign_in("        "),
                "    }",
            ]
            for regex in opts.skip_auth_regex:
                out += [
                    f"    location ~ {_quote(regex)} {{",
                    *_skipped(upstream, bool(options.resolver), "        "),
                    "    }",
                ]
            out += [
                "    location / {",
                *_protected(upstream, bool(options.resolver), "        "),
                "    }",
                "}",
            ]
    return "\n".join(out) + "\n"


def render_nginx(config: Config, options: NginxOptions | None = None) -> str:
    """The nginx configuration for ``config`` (a fragment, or a whole file with ``standalone``)."""
    options = options or NginxOptions()
    body = render_http(config, options)
    if options.standalone is None:
        return body
    d = options.standalone.rstrip("/")
    inner = "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
    access_log = f"{d}/access.log" if options.access_log else "off"
    return (
        "# A whole nginx.conf: `nginx -c <this file>`; runtime files live in " + d + "\n"
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {d}/nginx.pid;\n"
        f"error_log {d}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {access_log};\n"
        f"    client_body_temp_path {d}/client_body;\n"
        f"    proxy_temp_path {d}/proxy;\n"
        f"    fastcgi_temp_path {d}/fastcgi;\n"
        f"    uwsgi_temp_path {d}/uwsgi;\n"
        f"    scgi_temp_path {d}/scgi;\n"
        f"{inner}"
        "}\n"
    )

"""``idgate render nginx``: nginx in front, idgate deciding who passes (``auth_request``).

For people who keep nginx as the front door: nginx proxies each protected service itself and asks idgate,
with a subrequest to ``/oauth/auth`` on the same host, whether the request may pass. idgate answers 202 with
``X-Auth-Request-User``/``-Email``/``-Groups``/``-Preferred-Username`` (passed on to the upstream), 401 (no
session: nginx sends the browser to ``/oauth/start?rd=<uri>``) or 403. ``/oauth/*`` (sign-in, callback,
sign-out) is proxied to idgate, and so is the provider's host. Per deployment::

    server {
        server_name <ingress.host>;
        location = /oauth/auth { internal; proxy_pass http://idgate; ...no body... }
        location /oauth/       { proxy_pass http://idgate; }
        location / {
            auth_request /oauth/auth;
            auth_request_set $user $upstream_http_x_auth_request_user;   (and email, groups, username)
            error_page 401 = /oauth/start?rd=$request_uri;
            proxy_set_header X-Forwarded-User $user; ...
            proxy_pass http://<upstream_service>:<upstream_port>;
        }
    }

``skip_auth_regex`` paths skip the subrequest (``location ~ <regex>``). The output is an ``http {}`` fragment
for ``/etc/nginx/conf.d/``; ``standalone`` wraps it into a whole ``nginx.conf`` whose pid file, logs and
temporary files live in one directory (what the tests run with ``nginx -t -c``). With ``resolver``, upstream
names are resolved per request (Kubernetes Services that come and go) instead of once at start.
"""

from __future__ import annotations

from dataclasses import dataclass

from idgate.config.kkp import deployments
from idgate.config.model import Config
from idgate.settings import split_host

__all__ = ["NginxOptions", "render_nginx"]

AUTH_HEADERS = (
    ("user", "X-Auth-Request-User", "X-Forwarded-User"),
    ("email", "X-Auth-Request-Email", "X-Forwarded-Email"),
    ("groups", "X-Auth-Request-Groups", "X-Forwarded-Groups"),
    ("preferred_username", "X-Auth-Request-Preferred-Username", "X-Forwarded-Preferred-Username"),
)


@dataclass(frozen=True, slots=True)
class NginxOptions:
    """``listen``: nginx's port; ``idgate``: where idgate listens (default ``idgate.listen``);
    ``resolver``: a DNS server for per-request resolution; ``standalone``: a directory for a whole
    ``nginx.conf`` (pid, logs, temp files)."""

    listen: str = "80"
    idgate: str | None = None
    resolver: str | None = None
    standalone: str | None = None


def _quote(value: str) -> str:
    """An nginx string literal: double quotes, ``\\`` and ``"`` escaped (regexes keep their ``$``: nginx
    does not expand variables in a location's regex)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _to_idgate(indent: str) -> list[str]:
    return [
        f"{indent}proxy_pass http://idgate;",
        f"{indent}proxy_http_version 1.1;",
        f'{indent}proxy_set_header Connection "";',
        f"{indent}proxy_set_header Host $http_host;",
        f"{indent}proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"{indent}proxy_set_header X-Forwarded-Proto $scheme;",
    ]


def _protected(upstream: str, resolver: bool, indent: str) -> list[str]:
    lines = [f"{indent}auth_request /oauth/auth;"]
    for var, header, _ in AUTH_HEADERS:
        lines.append(f"{indent}auth_request_set ${var} $upstream_http_{header.lower().replace('-', '_')};")
    lines.append(f"{indent}error_page 401 = /oauth/start?rd=$request_uri;")
    for var, header, forwarded in AUTH_HEADERS:
        lines.append(f"{indent}proxy_set_header {header} ${var};")
        lines.append(f"{indent}proxy_set_header {forwarded} ${var};")
    return lines + _pass(upstream, resolver, indent)


def _pass(upstream: str, resolver: bool, indent: str) -> list[str]:
    lines = []
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
    ]


def _idgate_address(config: Config, options: NginxOptions) -> str:
    host, port = split_host(options.idgate or config.idgate.listen)
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - a wildcard listener is reached on loopback
        host = "127.0.0.1"
    return f"{host}:{port}"


def render_http(config: Config, options: NginxOptions) -> str:
    """The ``http {}`` fragment: the idgate upstream, the provider's server, one server per deployment."""
    out = [
        "# Rendered by `idgate render nginx`: nginx proxies the services, idgate answers /oauth/auth.",
        "# TLS: add `listen 443 ssl;` and ssl_certificate lines to each server block.",
        "map $http_upgrade $idgate_connection { default upgrade; '' ''; }",
        "upstream idgate {",
        f"    server {_idgate_address(config, options)};",
        "    keepalive 32;",
        "}",
    ]
    if options.resolver:
        out.append(f"resolver {options.resolver} valid=30s;")
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
    if config.iap is not None:
        for _, dep in deployments(config.iap):
            upstream = f"http://{dep.upstream_service}:{dep.upstream_port}"
            out += [
                "",
                f"# iap deployment {dep.name}",
                "server {",
                f"    listen {options.listen};",
                f"    server_name {split_host(dep.ingress.host)[0]};",
                "",
                "    location = /oauth/auth {",
                "        internal;",
                *_to_idgate("        "),
                "        proxy_pass_request_body off;",
                '        proxy_set_header Content-Length "";',
                "        proxy_set_header X-Forwarded-Uri $request_uri;",
                "    }",
                "    location /oauth/ {",
                *_to_idgate("        "),
                "    }",
            ]
            for regex in dep.config.skip_auth_regex:
                out += [
                    f"    location ~ {_quote(regex)} {{",
                    *_pass(upstream, bool(options.resolver), "        "),
                    "    }",
                ]
            out += [
                "    location / {",
                *_protected(upstream, bool(options.resolver), "        "),
                "        proxy_set_header Upgrade $http_upgrade;",
                "        proxy_set_header Connection $idgate_connection;",
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
    return (
        "# A whole nginx.conf: `nginx -c <this file>`; runtime files live in " + d + "\n"
        "worker_processes 1;\n"
        "daemon off;\n"
        f"pid {d}/nginx.pid;\n"
        f"error_log {d}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {d}/access.log;\n"
        f"    client_body_temp_path {d}/client_body;\n"
        f"    proxy_temp_path {d}/proxy;\n"
        f"    fastcgi_temp_path {d}/fastcgi;\n"
        f"    uwsgi_temp_path {d}/uwsgi;\n"
        f"    scgi_temp_path {d}/scgi;\n"
        f"{inner}"
        "}\n"
    )

"""The configuration reference, generated from the config models: ``python -m idgate.config.reference``.

Every key of :class:`idgate.config.model.Config`, section by section, with its type, default and
description. The description is the field's ``description`` when it has one, else the comment on the
field's line (or the comment lines just above it) in the model's source, else :data:`NOTES` below, else
the docstring of the nested model. So a comment next to a field in ``idgate/config/`` *is* its
documentation; ``tests/unit/test_docs_reference.py`` fails when ``docs/configuration.md`` is stale.

``python -m idgate.config.reference [--check] [PATH]`` writes PATH (default ``docs/configuration.md``); with
``--check`` it only compares, and exits 1 when the file differs.
"""

from __future__ import annotations

import inspect
import io
import re
import sys
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["Row", "Section", "main", "markdown", "reference", "sections"]

DEFAULT_PATH = Path("docs/configuration.md")

# Descriptions for keys whose source carries no comment (chart keys, mostly), by ``Model.field``.
NOTES: dict[str, str] = {
    "Config.dex": "The provider: the `oauth` chart's values (Dex's vocabulary).",
    "Config.iap": "The proxies: the `iap` chart's values (OAuth2-Proxy's vocabulary in each `config`).",
    "Config.idgate": "What only idgate has: where to listen, where state lives.",
    "Config.migrateGatewayAPI": "The charts' switch to Gateway API (2.30+); read by `idgate render`.",
    "Config.httpRoute": "Gateway API route settings (2.30+); read by `idgate render`.",
    "DexSection.image": "The provider's container image (`idgate render`: the idgate image replaces Dex's).",
    "DexSection.imagePullSecrets": "Kubernetes image pull secrets (`idgate render`).",
    "DexSection.replicas": "Provider replicas (`idgate render`); state lives in PostgreSQL.",
    "DexSection.env": "Extra environment variables of the provider pod (`idgate render`).",
    "DexSection.ingress": "Where the provider is reachable; the issuer is `<scheme>://<host><path>`.",
    "DexSection.expiry": "Token and key lifetimes (Go durations such as `6h`).",
    "DexSection.frontend": "Display settings of the provider's pages: name, logo, theme.",
    "DexSection.connectors": "Upstream identity sources; see the connector matrix in the README.",
    "DexSection.oauth2": "Dex's `oauth2` block: response types, password grant.",
    "DexSection.clients": "OAuth clients (Dex `staticClients`): one per protected service.",
    "DexSection.staticPasswords": "Local users with bcrypt hashes (Dex `staticPasswords`).",
    "DexSection.grpc": "Dex's gRPC API block; accepted and kept, idgate serves no gRPC.",
    "DexSection.resources": (
        "Kubernetes resources of the provider pod (`idgate render`); default: measured, see "
        'bench/RESULTS.md "Pod sizes" (not the chart\'s 32Mi).'
    ),
    "DexSection.nodeSelector": "Kubernetes node selector (`idgate render`).",
    "DexSection.affinity": "Kubernetes affinity (`idgate render`).",
    "DexSection.tolerations": "Kubernetes tolerations (`idgate render`).",
    "DexSection.extraVolumes": "Extra volumes of the provider pod (`idgate render`).",
    "DexSection.extraVolumeMounts": "Extra volume mounts of the provider pod (`idgate render`).",
    "DexSection.certIssuer": "cert-manager issuer for the provider's certificate; `null` disables.",
    "DexSection.theme": (
        "File name -> base64 content (`logo.svg`, `favicon.png`, `styles.css`, fonts ...), merged over the "
        "built-in theme and served under `<issuer>/theme/<file>`; see Theming in docs/recipes.md."
    ),
    "DexSection.nameOverride": "Name of the rendered Kubernetes objects (`idgate render`).",
    "Image.repository": "Image repository.",
    "Image.tag": "Image tag.",
    "DexIngress.host": "Host name (and port, off the default) of the provider.",
    "DexIngress.path": "Path prefix of the issuer.",
    "DexIngress.scheme": "Scheme of the issuer URL.",
    "DexIngress.annotations": "Ingress annotations (`idgate render`).",
    "RefreshTokens.validIfNotUsedFor": "A refresh token unused for this long expires.",
    "RefreshTokens.absoluteLifetime": "A refresh token family expires this long after the login.",
    "RefreshTokens.reuseInterval": "A refresh token may be reused within this interval (races).",
    "RefreshTokens.disableRotation": "Keep the same refresh token instead of issuing a new one per use.",
    "Expiry.signingKeys": "Rotation period of the signing keys (default 6h).",
    "Expiry.idTokens": "Lifetime of ID and access tokens (default 24h).",
    "Expiry.authRequests": "How long a login may take (default 24h).",
    "Expiry.deviceRequests": "How long a device code is valid (default 5m).",
    "Expiry.refreshTokens": "Refresh token lifetimes.",
    "GrpcCerts.caCert": "Base64 CA certificate.",
    "GrpcCerts.serverCert": "Base64 server certificate.",
    "GrpcCerts.serverKey": "Base64 server key.",
    "Grpc.api": "Dex's gRPC API settings (kept).",
    "Grpc.certs": "gRPC TLS material (kept).",
    "Grpc.certMount": "Raw YAML appended by the chart (kept).",
    "Grpc.certVolume": "Raw YAML appended by the chart (kept).",
    "Grpc.service": "Raw YAML appended by the chart (kept).",
    "Grpc.ingress": "Raw YAML appended by the chart (kept).",
    "CertIssuer.name": "cert-manager issuer name.",
    "CertIssuer.kind": "`ClusterIssuer` or `Issuer`.",
    "IapCertIssuer.kind": "`ClusterIssuer` or `Issuer`.",
    "Connector.type": "One of `local`, `ldap`, `github`, `gitlab`, `google`, `oidc`.",
    "Connector.id": "Connector id: part of every `sub` it issues; keep it when moving from Dex.",
    "Connector.name": "Shown on the connector chooser.",
    "Connector.config": "The connector's own keys, as in Dex (matched ignoring case).",
    "Client.id": "`client_id`.",
    "Client.name": "Shown on the login page.",
    "Client.secret": "`client_secret`; `${VAR}` and `*_file` forms work.",
    "Client.redirect_uris": "Allowed redirect URIs (exact match).",
    "Client.public": "A public client (no secret; PKCE required).",
    "Client.trusted_peers": "Clients that may obtain tokens for this one's audience.",
    "Client.logo_url": "Logo shown for the client.",
    "StaticPassword.email": "Login name (matched ignoring case).",
    "StaticPassword.hash": "bcrypt hash (`$2a$10$...` or its base64).",
    "StaticPassword.username": "Shown name; `preferred_username`.",
    "StaticPassword.userID": "Stable user id: part of `sub`.",
    "OAuth2.responseTypes": "Allowed response types; `token`/`id_token` enable the implicit flow.",
    "OAuth2.alwaysShowLoginScreen": "Show the connector chooser even with one connector.",
    "OAuth2.passwordConnector": "Enables `grant_type=password` through this connector.",
    "IapSection.image": "The proxies' container image (`idgate render`).",
    "IapSection.imagePullSecrets": "Kubernetes image pull secrets (`idgate render`).",
    "IapSection.port": "The proxies' port in their pods (`idgate render`).",
    "IapSection.replicas": "Replicas per proxy deployment (`idgate render`).",
    "IapSection.certIssuer": "cert-manager issuer for the proxies' certificates; `null` disables.",
    "IapSection.customProviderCA": "A private CA that signs the provider's certificate.",
    "IapSection.resources": (
        "Kubernetes resources of every proxy pod (`idgate render`); default: measured, see "
        'bench/RESULTS.md "Pod sizes" (not the chart\'s 25Mi).'
    ),
    "IapSection.affinity": "Kubernetes affinity (`idgate render`).",
    "IapSection.nodeSelector": "Kubernetes node selector (`idgate render`).",
    "IapSection.tolerations": "Kubernetes tolerations (`idgate render`).",
    "IapSection.default_configuration": "OAuth2-Proxy options merged under every deployment's `config`.",
    "IapSection.extraArgs": "Extra OAuth2-Proxy flags for every deployment (see `config` for what works).",
    "IapSection.deployments": "The protected services, keyed by any name (objects are named by `name`).",
    "CustomProviderCA.secretName": "Secret that holds the CA.",
    "CustomProviderCA.secretKey": "Key of the CA in that Secret.",
    "CustomProviderCA.file": "idgate: the CA file outside Kubernetes.",
    "DeploymentIngress.host": "Host of the protected service (and port, off the default).",
    "DeploymentIngress.annotations": "Ingress annotations (`idgate render`).",
    "DeploymentIngress.tlsSecretName": "TLS Secret of the Ingress (`idgate render`).",
    "DeploymentIngress.class_": "Ingress class (`idgate render`).",
    "Deployment.name": "The deployment's name (objects, cookie name `<name>_oauth2_proxy`).",
    "Deployment.replicas": "Replicas of this proxy (default `iap.replicas`).",
    "Deployment.client_id": "The provider client this proxy logs in as.",
    "Deployment.client_secret": "Its secret; must equal the Dex client's `secret`.",
    "Deployment.encryption_key": "Session cookie key: 16, 24 or 32 characters (or their base64).",
    "Deployment.upstream_service": "Host name of the protected service.",
    "Deployment.upstream_port": "Its port.",
    "Deployment.ingress": "Where the protected service is reachable.",
    "Deployment.config": "OAuth2-Proxy options (TOML keys); see the table below.",
    "Deployment.extraArgs": "Extra OAuth2-Proxy flags.",
    "RouteRuleConfig.path": "Regular expression on the normalised path.",
    "RouteRuleConfig.methods": "Methods the rule applies to (empty: all).",
    "RouteRuleConfig.allowed_groups": "Any of these groups passes.",
    "RouteRuleConfig.allowed_emails": "Any of these addresses passes.",
    "RouteRuleConfig.allowed_email_domains": "Any address in these domains passes.",
    "HttpRoute.gatewayName": "Gateway name.",
    "HttpRoute.gatewayNamespace": "Gateway namespace.",
    "HttpRoute.timeout": "Route timeout.",
    "HttpRoute.externalGateway": "The Gateway is managed elsewhere.",
    "ProxyOptions.allowed_groups": "Only members of one of these groups pass (the `groups` claim).",
    "ProxyOptions.insecure_oidc_allow_unverified_email": "Accept ID tokens with `email_verified: false`.",
    "ProxyOptions.skip_auth_regex": "Paths (regular expressions) that pass without login.",
    "ProxyOptions.pass_user_headers": "X-Forwarded-User, -Email, -Groups, -Preferred-Username upstream.",
    "ProxyOptions.whitelist_domains": "Domains the post-login redirect (`rd`) may go to.",
    "ProxyOptions.redirect_url": "The callback URL (default `https://<host>/oauth/callback`).",
    "ProxyOptions.cookie_secure": "Secure cookies (default: true behind https).",
    "ProxyOptions.ssl_upstream_insecure_skip_verify": "Skip TLS verification of an https upstream.",
    "KubernetesSection.networkPolicy": "Render a NetworkPolicy per deployment.",
    "KubernetesSection.upstreamSelectors": "Deployment name -> labels of the upstream pods.",
    "KubernetesSection.image": "The idgate image (default: this version's; `--image` wins).",
    "IdgateSection.listen": "The public listener.",
    "IdgateSection.health_listen": "Probes and `/metrics` on a port of their own (off by default).",
    "IdgateSection.metrics_listen": "`/metrics` and probes; never the public listener; `null` turns it off.",
    "IdgateSection.storage": "`sqlite:///PATH` or `postgresql://USER@HOST/DB`.",
    "IdgateSection.sessions": "Proxy session store: `cookie` or `redis://HOST:PORT/DB`.",
    "IdgateSection.data_dir": "Where local state lives (the default SQLite file).",
    "IdgateSection.workers": (
        "Processes sharing the port (`idgate serve --workers`). One process already signs ID tokens and "
        "checks passwords on a thread per core; more workers spread the rest over the cores."
    ),
    "IdgateSection.kubernetes": "Read only by `idgate render kubernetes`.",
}


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class Section:
    path: str
    model: type[BaseModel]
    rows: tuple[Row, ...]
    same_as: str | None = None  # a model already documented under another path


def _key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _models_in(annotation: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """Nested models of a field's type with the path suffix to reach them: ``""``, ``"[]"``, ``".<key>"``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation
    elif origin in (Union, types.UnionType) or origin is typing.Annotated:
        for arg in args if origin is not typing.Annotated else args[:1]:
            yield from _models_in(arg)
    elif origin is list:
        for suffix, model in _models_in(args[0]):
            yield "[]" + suffix, model
    elif origin is dict:
        for suffix, model in _models_in(args[1]):
            yield ".<key>" + suffix, model


def type_name(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A short, YAML-flavoured name of a field type: ``string``, ``list of string``, ``duration`` ..."""
    meta = list(metadata or [])
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0], [*meta, *args[1:]])
    if any(getattr(getattr(m, "func", None), "__name__", "") == "_duration" for m in meta):
        return "duration"
    if origin in (Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return " | ".join(f"`{a}`" if a != "" else '`""`' for a in args)  # "" as `""`, not an empty ``
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {type_name(args[0])} to {type_name(args[1])}" if args else "map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation is Any:
        return "any"
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            dumped = value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
            return f"`{dumped}`" if dumped else "(defaults below)"
        return f"`{_yaml(value)}`"
    if field.default is PydanticUndefined:
        return ""
    return f"`{_yaml(field.default)}`"


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        from idgate.config.types import format_duration

        return format_duration(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str) and value == "":
        return '""'
    return str(value)


@cache
def source_comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> its comment in ``model``'s own source (same line, or the comment lines above)."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    above: list[str] = []
    for line in source.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if stripped.startswith("#") and indent == 4:
            above.append(stripped.lstrip("# ").strip())
            continue
        if indent == 4 and ":" in stripped and stripped.split(":", 1)[0].isidentifier():
            name = stripped.split(":", 1)[0]
            comment = _trailing_comment(stripped)
            if comment:
                out[name] = comment
            elif above:
                out[name] = " ".join(above)
        above = []
    return out


def _trailing_comment(line: str) -> str:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line + "\n").readline):
            if tok.type == tokenize.COMMENT:
                text = tok.string.lstrip("#").strip()
                return text.split("noqa", 1)[0].strip(" -") if text.startswith("noqa") else text
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return ""
    return ""


#: A reST cross-reference (``:mod:`idgate.deploy```, ``:class:`~.Model```): in Markdown, its name as code.
_ROLE = re.compile(r":(?:mod|func|class|meth|data|attr|exc|obj):`[~.]*([^`]+)`")


def markdown(text: str) -> str:
    """reST inline markup of a docstring or comment in Markdown: double backquotes made single, a
    cross-reference its name as code. The reference is read by people, not by Sphinx."""
    return _ROLE.sub(r"`\1`", text).replace("``", "`")


def _first_line(doc: str | None) -> str:
    """The first paragraph of a docstring, in Markdown (:func:`markdown`)."""
    if not doc:
        return ""
    para = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return markdown(" ".join(para.split()))


def describe(model: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The description of ``model.name``: description, source comment, :data:`NOTES`, nested docstring."""
    if field.description:
        return field.description
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and name in source_comments(cls):
            return markdown(source_comments(cls)[name])
    if f"{model.__name__}.{name}" in NOTES:
        return NOTES[f"{model.__name__}.{name}"]
    for _, nested in _models_in(field.annotation):
        return _first_line(nested.__doc__)
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def sections() -> list[Section]:
    """Every model reachable from :class:`Config`, depth first, each documented once."""
    from idgate.config.model import Config

    out: list[Section] = []
    seen: dict[type[BaseModel], str] = {}

    def visit(path: str, model: type[BaseModel]) -> None:
        if model in seen:
            out.append(Section(path, model, (), same_as=seen[model]))
            return
        seen[model] = path
        rows = []
        nested: list[tuple[str, type[BaseModel]]] = []
        for name, field in model.model_fields.items():
            key = _key(name, field)
            rows.append(
                Row(
                    key,
                    type_name(field.annotation, field.metadata),
                    _default(field),
                    describe(model, name, field),
                )
            )
            for suffix, sub in _models_in(field.annotation):
                nested.append((f"{path}.{key}{suffix}" if path else f"{key}{suffix}", sub))
        out.append(Section(path, model, tuple(rows)))
        for sub_path, sub in nested:
            visit(sub_path, sub)

    visit("", Config)
    return out


INTRO = """\
# Configuration reference

<!-- Generated by `python -m idgate.config.reference` from the models in src/idgate/config/. Do not
     edit by hand: change a field's comment there and run `python -m idgate.config.reference` again. -->

idgate reads **one YAML file**: the values file of the Kubermatic `oauth` (`dex:`) and `iap` (`iap:`) Helm
charts, as it is, plus an optional `idgate:` section. `idgate check FILE` reports every problem at once with
its YAML path. Any string may be written as `${VAR}` (from the environment); a secret key may also be given
as `<key>_file: /path` (read from that file). Every command that reads the file takes it as `--config FILE`,
or from `IDGATE_CONFIG`.

`--set PATH=VALUE` (of `check`, `serve` and `render`, repeatable, the last one wins) overrides one value
before validation, as `helm --set` does: `PATH` is dotted keys with `[N]` for a list item
(`iap.deployments.grafana.upstream_port=3001`, `dex.clients[0].secret=...`, `\\.` for a dot inside a key);
`VALUE` is read as YAML (`9090` a number, `true` a boolean, `[a, b]` a list), and Helm's list syntax works:
`--set 'iap.deployments.grafana.config.email_domains={example.com,example.org}'` (quote it: shells expand
braces).

Durations are Go durations (`90s`, `6h`, `1h30m`). In the tables, `<key>` is any map key and `[]` a list
item; keys of clients, connectors, static passwords and `expiry` are matched ignoring case, as Dex does.
Unknown keys are errors (with a "did you mean"), except in a deployment's `config`, where an OAuth2-Proxy
option idgate does not implement is reported as unsupported by name.

"""


def reference() -> str:
    """The whole of ``docs/configuration.md``."""
    parts = [INTRO]
    for section in sections():
        title = f"`{section.path}`" if section.path else "Top level"
        parts.append(f"## {title}\n\n")
        if section.same_as is not None:
            parts.append(f"The same keys as [`{section.same_as}`](#{_anchor(section.same_as)}).\n\n")
            continue
        doc = _first_line(section.model.__doc__) if section.path else ""
        if doc:
            parts.append(doc + "\n\n")
        parts.append("| key | type | default | description |\n|---|---|---|---|\n")
        for row in section.rows:
            parts.append(
                f"| `{row.key}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(row.description)} |\n"
            )
        parts.append("\n")
    return "".join(parts).rstrip("\n") + "\n"


def _anchor(path: str) -> str:
    """GitHub's heading anchor for ``## `path` ``: lower case, punctuation other than ``-`` and ``_`` gone."""
    return "".join(c for c in path.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    paths = [a for a in args if a != "--check"]
    path = Path(paths[0]) if paths else DEFAULT_PATH
    text = reference()
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is stale: run python -m idgate.config.reference", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

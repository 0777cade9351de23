"""A deployment's ``config:`` block: OAuth2-Proxy option names, as the ``iap`` chart renders them to TOML.

Three kinds of key (ARCHITECTURE.md, rule 5 of the house):

- an option idgate implements (:class:`ProxyOptions` fields) is validated like any other key;
- an option the chart already fixes on the command line (``provider``, ``proxy_prefix`` ...) never had an
  effect in the chart: it is an error that says so;
- any other option from OAuth2-Proxy's legacy (flag / TOML) option list is reported by name as "not
  supported";
- anything else is not an OAuth2-Proxy option at all: "unknown option" with a "did you mean".

The option list below is written from OAuth2-Proxy's documentation of its command-line flags
(``--cookie-refresh`` is the TOML key ``cookie_refresh``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from idgate.config.types import Duration, Strict, did_you_mean

__all__ = ["CHART_FIXED_OPTIONS", "OAUTH2_PROXY_OPTIONS", "ProxyOptions"]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PydanticCustomError(
            "regex",
            "invalid regular expression '{pattern}': {error}",
            {"pattern": pattern, "error": str(exc)},
        ) from None
    return pattern


Regex = Annotated[str, AfterValidator(_compiles)]

# Options the iap chart passes as command-line flags; flags win over the config file, so these keys
# never had any effect in a deployment's ``config``.
CHART_FIXED_OPTIONS: dict[str, str] = {
    "provider": "--provider=oidc",
    "oidc_issuer_url": "--oidc-issuer-url from iap.oidc_issuer_url",
    "http_address": "--http-address from iap.port",
    "upstreams": "--upstream from upstream_service and upstream_port",
    "proxy_prefix": "--proxy-prefix=/oauth",
    "silence_ping_logging": "--silence-ping-logging=true",
    "client_id": "the deployment's client_id",
    "client_secret": "the deployment's client_secret",
    "cookie_secret": "the deployment's encryption_key",
    "provider_ca_files": "iap.customProviderCA",
}

_OPTION_NAMES = """
    acr_values allowed_groups allowed_roles api_routes approval_prompt auth_logging auth_logging_format
    authenticated_emails_file azure_graph_group_field azure_tenant backend_logout_url banner
    basic_auth_password bearer_token_login_fallback bitbucket_repository bitbucket_team client_id
    client_secret client_secret_file code_challenge_method cookie_csrf_expire cookie_csrf_per_request
    cookie_csrf_per_request_limit cookie_domain cookie_domains cookie_expire cookie_httponly cookie_name
    cookie_path cookie_refresh cookie_samesite cookie_secret cookie_secret_file cookie_secure
    custom_sign_in_logo custom_templates_dir display_htpasswd_form email_domains encode_state
    entra_id_allowed_tenants entra_id_federated_token_auth errors_to_info_log exclude_logging_paths
    extra_jwt_issuers flush_interval footer force_code_challenge_method force_https force_json_errors
    gcp_healthchecks github_org github_repo github_team github_token github_users gitlab_group
    gitlab_projects google_admin_email google_group google_service_account_json google_target_principal
    google_use_application_default_credentials htpasswd_file htpasswd_user_group http_address
    https_address insecure_oidc_allow_unverified_email insecure_oidc_skip_issuer_verification
    insecure_oidc_skip_nonce jwt_key jwt_key_file keycloak_group logging_compress logging_filename
    logging_local_time logging_max_age logging_max_backups logging_max_size login_url metrics_address
    metrics_secure_address metrics_tls_cert_file metrics_tls_key_file oidc_audience_claims
    oidc_email_claim oidc_extra_audiences oidc_groups_claim oidc_issuer_url oidc_jwks_url
    pass_access_token pass_authorization_header pass_basic_auth pass_host_header pass_user_headers
    ping_path ping_user_agent prefer_email_to_user profile_url prompt provider provider_ca_files
    provider_display_name proxy_prefix proxy_websockets pubjwk_url ready_path real_client_ip_header
    redeem_url redirect_url redis_ca_path redis_cluster_connection_urls redis_connection_idle_timeout
    redis_connection_url redis_insecure_skip_tls_verify redis_password redis_sentinel_connection_urls
    redis_sentinel_master_name redis_sentinel_password redis_use_cluster redis_use_sentinel
    relative_redirect_url request_id_header request_logging request_logging_format resource
    reverse_proxy scope session_cookie_minimal session_store_type set_authorization_header
    set_basic_auth set_xauthrequest show_debug_on_error signature_key silence_ping_logging
    skip_auth_preflight skip_auth_regex skip_auth_routes skip_auth_strip_headers
    skip_claims_from_profile_url skip_jwt_bearer_tokens skip_oidc_discovery skip_provider_button
    ssl_insecure_skip_verify ssl_upstream_insecure_skip_verify standard_logging standard_logging_format
    tls_cert_file tls_cipher_suites tls_key_file tls_min_version trusted_ips trusted_proxy_ips
    upstream_timeout upstreams
    use_system_trust_store user_id_claim validate_url whitelist_domains
"""
OAUTH2_PROXY_OPTIONS: frozenset[str] = frozenset(_OPTION_NAMES.split())


def _skip_route(value: str) -> str:
    method, sep, pattern = value.partition("=")
    if not sep or not method.isalpha() or not method.isupper():
        pattern = value
    _compiles(pattern)
    return value


def _issuer_audience(value: str) -> str:
    issuer, sep, audience = value.partition("=")
    if not sep or not issuer.startswith(("https://", "http://")) or not audience:
        raise PydanticCustomError(
            "extra_jwt_issuers", "expected issuer=audience such as https://idp.example.com=my-api"
        )
    return value


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "ip_network",
            "expected an IP address or CIDR range such as 10.0.0.0/8, got '{value}'",
            {"value": value},
        ) from None
    return value


SkipRoute = Annotated[str, AfterValidator(_skip_route)]
IssuerAudience = Annotated[str, AfterValidator(_issuer_audience)]
Network = Annotated[str, AfterValidator(_network)]


class ProxyOptions(Strict):
    """The OAuth2-Proxy options idgate implements. Unset options keep OAuth2-Proxy's defaults.

    Which keys were written matters (``model_fields_set``): ``iap.default_configuration`` is merged
    under a deployment's ``config`` key by key (see :func:`idgate.config.kkp.effective_options`).
    Meanings are OAuth2-Proxy's; where idgate differs, the comment says so.
    """

    unknown_key_noun: ClassVar[str] = "option"

    # -- who may pass
    scope: str | None = None  # one space-separated string; default "openid email profile"
    email_domains: list[str] = Field(default_factory=list)  # '*' = any; empty = nobody
    authenticated_emails_file: str | None = None  # one address per line; these pass whatever the domain
    github_org: str | None = None  # idgate: really restricts (groups "org")
    github_team: str | None = None  # idgate: really restricts (groups "org:team"), comma-separated
    allowed_groups: list[str] = Field(default_factory=list)
    insecure_oidc_allow_unverified_email: bool = False
    # -- which requests need no session, or get 401 instead of a login redirect
    skip_auth_regex: list[Regex] = Field(default_factory=list)
    skip_auth_routes: list[SkipRoute] = Field(default_factory=list)  # "METHOD=regex" or "regex"
    skip_auth_preflight: bool = False  # OPTIONS requests pass unauthenticated
    api_routes: list[Regex] = Field(default_factory=list)  # 401 instead of a redirect
    skip_jwt_bearer_tokens: bool = False  # "Authorization: Bearer <JWT>" is a session
    extra_jwt_issuers: list[IssuerAudience] = Field(default_factory=list)  # "issuer=audience"
    # -- what the upstream receives
    pass_user_headers: bool = True
    pass_access_token: bool = False  # X-Forwarded-Access-Token
    pass_authorization_header: bool = False  # Authorization: Bearer <ID token>
    set_xauthrequest: bool = False  # X-Auth-Request-* to the upstream too (and the token on /oauth/auth)
    set_authorization_header: bool = False  # Authorization: Bearer <ID token> on /oauth/auth's 202
    prefer_email_to_user: bool = False  # X-Forwarded-User carries the email
    pass_host_header: bool = True  # the client's Host; false: the upstream's host:port
    # -- the session cookie
    cookie_name: str | None = None  # default <name>_oauth2_proxy
    cookie_domains: list[str] = Field(default_factory=list)  # the longest that the host ends with
    cookie_path: str | None = None  # default /
    cookie_expire: Duration | None = None  # default 168h
    cookie_refresh: Duration | None = None  # default 0 (off): refresh with the refresh token after it
    cookie_secure: bool | None = None
    cookie_httponly: bool | None = None  # default true
    cookie_samesite: Literal["", "lax", "strict", "none"] | None = None  # idgate default lax ("": unset)
    session_store_type: Literal["cookie", "redis"] | None = None  # default: idgate.sessions
    redis_connection_url: str | None = None  # redis://[:password@]host:port/db (rediss:// for TLS)
    # -- the sign-in flow
    whitelist_domains: list[str] = Field(default_factory=list)
    redirect_url: str | None = None
    # 'force' -> prompt=consent (the provider's approval screen); the chart's default_configuration: none
    approval_prompt: str | None = None
    prompt: str | None = None  # OIDC prompt, wins over approval_prompt
    code_challenge_method: Literal["S256", "plain"] | None = None  # idgate: PKCE S256 by default
    oidc_groups_claim: str | None = None  # default groups
    oidc_email_claim: str | None = None  # default email
    user_id_claim: str | None = None  # OAuth2-Proxy's older name of oidc_email_claim
    skip_provider_button: bool | None = None  # the chart's default: true
    custom_sign_in_logo: str | None = None  # a file path, an https:// URL, or "-" for none (unset: idgate's)
    banner: str | None = None  # text above the sign-in button, shown escaped ("-": none)
    footer: str | None = None  # text under it, escaped (unset: "Secured by idgate"; "-": none)
    ping_path: str | None = None  # another health path, besides /oauth/healthy
    # -- forwarding
    reverse_proxy: bool | None = None  # the chart's default: true (X-Forwarded-* from trusted_proxy_ips)
    real_client_ip_header: str | None = None  # default X-Real-IP
    trusted_proxy_ips: list[Network] = Field(default_factory=list)  # default: loopback, private networks
    upstream_timeout: Duration | None = None  # default 30s -> 504
    flush_interval: Duration | None = None  # default 1s; idgate writes each upstream read at once
    ssl_upstream_insecure_skip_verify: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ProxyOptions:
        if (
            self.user_id_claim is not None
            and self.oidc_email_claim is not None
            and self.user_id_claim != self.oidc_email_claim
        ):
            raise PydanticCustomError(
                "claims", "user_id_claim is the older name of oidc_email_claim; give one of them"
            )
        if self.redis_connection_url and not self.redis_connection_url.startswith(("redis://", "rediss://")):
            raise PydanticCustomError("redis", "redis_connection_url must start with redis:// or rediss://")
        if self.ping_path is not None and not self.ping_path.startswith("/"):
            raise PydanticCustomError("ping_path", "ping_path must start with /")
        return self

    @classmethod
    def unknown_key_message(cls, key: str) -> str:
        """Explain an option idgate does not take: fixed by the chart, not supported, or unknown."""
        if key in CHART_FIXED_OPTIONS:
            return (
                f"'{key}' is set by the iap chart itself ({CHART_FIXED_OPTIONS[key]}) and has no "
                "effect in config; remove it"
            )
        if key in OAUTH2_PROXY_OPTIONS:
            return f"'{key}' is an OAuth2-Proxy option that is not supported by idgate"
        choices = set(cls.known_keys()) | OAUTH2_PROXY_OPTIONS
        return f"unknown option '{key}' (not an OAuth2-Proxy option){did_you_mean(key, choices)}"


def read_emails_file(path: str) -> tuple[str, ...]:
    """``authenticated_emails_file``: one address per line, blank lines and ``#`` comments skipped."""
    from idgate.errors import ConfigError, Problem

    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ConfigError(
            [Problem("config.authenticated_emails_file", f"cannot read {path}: {exc.strerror}")]
        ) from None
    return tuple(line.strip().lower() for line in lines if line.strip() and not line.strip().startswith("#"))


def runtime_options(opts: ProxyOptions, default_sessions: str) -> dict[str, Any]:
    """The :class:`~idgate.settings.ProxySettings` fields that ``opts`` sets (unset: the defaults there).

    ``default_sessions`` is ``idgate.sessions`` (``cookie`` or a redis URL); ``session_store_type``
    chooses per deployment.
    """
    out: dict[str, Any] = {}
    same = [
        "skip_auth_preflight",
        "skip_jwt_bearer_tokens",
        "pass_access_token",
        "pass_authorization_header",
        "set_xauthrequest",
        "set_authorization_header",
        "prefer_email_to_user",
        "pass_host_header",
        "cookie_path",
        "cookie_refresh",
        "cookie_httponly",
        "cookie_samesite",
        "approval_prompt",
        "prompt",
        "oidc_groups_claim",
        "reverse_proxy",
        "real_client_ip_header",
        "upstream_timeout",
        "flush_interval",
        "ssl_upstream_insecure_skip_verify",
        "custom_sign_in_logo",
        "banner",
        "footer",
        "skip_provider_button",
        "code_challenge_method",
        "ping_path",
    ]
    for name in same:
        value = getattr(opts, name)
        if value is not None:
            out[name] = value
    email_claim = opts.oidc_email_claim or opts.user_id_claim
    if email_claim:
        out["oidc_email_claim"] = email_claim
    out["cookie_domains"] = tuple(d.lstrip(".").lower() for d in opts.cookie_domains)
    out["api_routes"] = tuple(opts.api_routes)
    out["trusted_proxy_ips"] = tuple(opts.trusted_proxy_ips)
    routes: list[tuple[str, str]] = []
    for entry in opts.skip_auth_routes:
        method, sep, pattern = entry.partition("=")
        if sep and method.isalpha() and method.isupper():
            routes.append((method, pattern))
        else:
            routes.append(("", entry))
    out["skip_auth_routes"] = tuple(routes)
    out["extra_jwt_issuers"] = tuple((i, a) for i, _, a in (e.partition("=") for e in opts.extra_jwt_issuers))
    if opts.authenticated_emails_file:
        out["authenticated_emails"] = read_emails_file(opts.authenticated_emails_file)
    out["session_store"] = session_store(opts, default_sessions)
    return out


def session_store(opts: ProxyOptions, default_sessions: str) -> str:
    """Where a deployment keeps its sessions: ``cookie`` or a Redis URL (``session_store_type``,
    ``redis_connection_url``, else ``idgate.sessions``)."""
    if opts.session_store_type == "redis":
        return opts.redis_connection_url or ""
    if opts.session_store_type == "cookie":
        return "cookie"
    return opts.redis_connection_url or default_sessions

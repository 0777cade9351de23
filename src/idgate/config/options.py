"""A deployment's ``config:`` block: OAuth2-Proxy option names, as the ``iap`` chart renders them to TOML.

Three kinds of key (ARCHITECTURE.md, rule 5 of the house):

- an option idgate implements (:class:`ProxyOptions` fields) is validated like any other key;
- an option the chart already fixes on the command line (``provider``, ``proxy_prefix`` ...) never had an
  effect in the chart: it is an error that says so;
- any other option from OAuth2-Proxy's legacy (flag / TOML) option list is reported as "not supported yet
  by idgate", by name;
- anything else is not an OAuth2-Proxy option at all: "unknown option" with a "did you mean".

The option list below is written from OAuth2-Proxy's documentation of its command-line flags
(``--cookie-refresh`` is the TOML key ``cookie_refresh``).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field
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
    "ping_path": "--ping-path=/oauth/healthy",
    "silence_ping_logging": "--silence-ping-logging=true",
    "reverse_proxy": "--reverse-proxy=true",
    "skip_provider_button": "--skip-provider-button=true",
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
    tls_cert_file tls_cipher_suites tls_key_file tls_min_version trusted_ips upstream_timeout upstreams
    use_system_trust_store user_id_claim validate_url whitelist_domains
"""
OAUTH2_PROXY_OPTIONS: frozenset[str] = frozenset(_OPTION_NAMES.split())


class ProxyOptions(Strict):
    """The OAuth2-Proxy options idgate implements. Unset options keep OAuth2-Proxy's defaults.

    Which keys were written matters (``model_fields_set``): ``iap.default_configuration`` is merged
    under a deployment's ``config`` key by key (see :func:`idgate.config.kkp.effective_options`).
    """

    unknown_key_noun: ClassVar[str] = "option"

    scope: str | None = None  # one space-separated string; default "openid email profile"
    email_domains: list[str] = Field(default_factory=list)  # '*' = any; empty = nobody
    github_org: str | None = None
    github_team: str | None = None
    allowed_groups: list[str] = Field(default_factory=list)
    skip_auth_regex: list[Regex] = Field(default_factory=list)
    pass_user_headers: bool = True
    approval_prompt: str | None = None  # 'force' | 'none' | ... ; the chart's default_configuration: none
    cookie_name: str | None = None  # default <name>_oauth2_proxy
    cookie_expire: Duration | None = None  # default 168h
    cookie_secure: bool | None = None
    redirect_url: str | None = None
    whitelist_domains: list[str] = Field(default_factory=list)
    insecure_oidc_allow_unverified_email: bool = False

    @classmethod
    def unknown_key_message(cls, key: str) -> str:
        """Explain an option idgate does not take: fixed by the chart, not yet supported, or unknown."""
        if key in CHART_FIXED_OPTIONS:
            return (
                f"'{key}' is set by the iap chart itself ({CHART_FIXED_OPTIONS[key]}) and has no "
                "effect in config; remove it"
            )
        if key in OAUTH2_PROXY_OPTIONS:
            return f"'{key}' is an OAuth2-Proxy option that is not supported yet by idgate"
        choices = set(cls.known_keys()) | OAUTH2_PROXY_OPTIONS
        return f"unknown option '{key}' (not an OAuth2-Proxy option){did_you_mean(key, choices)}"

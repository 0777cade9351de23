"""Property-based tests: whatever the input, these parsers and validators answer with a value or one of
their typed errors, never anything else (no crash a request could trigger, no 500)."""

from __future__ import annotations

import contextlib
import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idgate.config.load import load_config_text
from idgate.errors import ConfigError
from idgate.oauth2.errors import OAuthError
from idgate.oauth2.redirect_uris import redirect_uri_registered
from idgate.oauth2.requests import (
    parse_authorization_request,
    parse_basic_authorization,
    parse_client_credentials,
    parse_token_request,
)
from idgate.policy.path import normalise_path
from idgate.provider.throttle import address_key, canonical_username, client_address
from idgate.proxy.redirects import validate_redirect
from idgate.sessions.sealing import Sealer, join_chunks

URLISH = st.text(
    alphabet=string.printable + "\u3002\uff0e\u2044\uff0f\u00a0\u200b\ufe52\u2215é", max_size=120
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(URLISH, st.lists(st.text(max_size=30), max_size=4))
def test_redirect_validator_answers_a_target_or_none(rd: str, whitelist: list[str]) -> None:
    out = validate_redirect(rd, host="grafana.example.com", whitelist_domains=whitelist)
    assert out is None or isinstance(out, str)
    if out is not None and not whitelist:
        # with no allow-list, only this host or a relative path comes out
        assert (out.startswith("/") and not out.startswith("//")) or out.startswith(
            ("https://grafana.example.com", "http://grafana.example.com")
        )


@FAST
@given(URLISH)
def test_redirect_uri_matcher_never_raises(uri: str) -> None:
    assert redirect_uri_registered(uri, ("http://127.0.0.1/cb",), public=True) in (True, False)


SEALER = Sealer([b"k" * 32], "session")


@FAST
@given(st.text(max_size=400), st.dictionaries(st.text(max_size=12), st.text(max_size=80), max_size=12))
def test_cookie_codec_opens_or_refuses(sealed: str, cookies: dict[str, str]) -> None:
    assert SEALER.open(sealed, "_oauth2_proxy") is None
    joined = join_chunks(cookies, "_oauth2_proxy")
    assert joined is None or isinstance(joined, str)


@FAST
@given(st.binary(max_size=300))
def test_cookie_codec_round_trips_and_binds_the_name(data: bytes) -> None:
    sealed = SEALER.seal(data, "a")
    assert SEALER.open(sealed, "a") == data
    assert SEALER.open(sealed, "b") is None
    assert SEALER.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], "a") in (None, data)


@FAST
@given(st.text(max_size=200))
def test_path_normaliser_answers_a_path_or_none(path: str) -> None:
    out = normalise_path(path)
    if out is not None:
        assert out.startswith("/") and "/../" not in out + "/" and "\x00" not in out


PARAMS = st.dictionaries(
    st.sampled_from(
        [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "nonce",
            "code",
            "grant_type",
            "code_verifier",
            "code_challenge",
            "code_challenge_method",
            "prompt",
            "max_age",
            "refresh_token",
            "client_secret",
            "device_code",
            "x",
        ]
    ),
    st.lists(st.text(max_size=60), min_size=1, max_size=3),
    max_size=10,
)


@FAST
@given(PARAMS)
def test_token_and_authorization_parsers_raise_only_oauth_errors(params: dict[str, list[str]]) -> None:
    for parse in (parse_token_request, parse_authorization_request):
        with contextlib.suppress(OAuthError):
            parse(params)


@FAST
@given(st.one_of(st.none(), st.text(max_size=80)), PARAMS)
def test_client_credentials_parser_raises_only_oauth_errors(
    header: str | None, params: dict[str, list[str]]
) -> None:
    with contextlib.suppress(OAuthError):
        parse_client_credentials(header, params)
    with contextlib.suppress(OAuthError):
        parse_basic_authorization(header or "")


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "dex",
                    "iap",
                    "idgate",
                    "ingress",
                    "clients",
                    "deployments",
                    "config",
                    "host",
                    "id",
                    "secret",
                    "listen",
                    "storage",
                    "sessions",
                    "name",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(YAML_VALUES.map(yaml.safe_dump), st.text(max_size=200)))
def test_config_loader_raises_only_config_errors(text: str) -> None:
    with contextlib.suppress(ConfigError):
        load_config_text(text, env={})


@FAST
@given(st.text(max_size=80), st.text(max_size=60))
def test_throttle_keys_never_raise(name: str, forwarded: str) -> None:
    assert isinstance(canonical_username(name), str)
    assert address_key(client_address(forwarded, "")).startswith("ip:")

"""Hosts and URLs are checked for their shape, with the key path and what to write (issue #20):
``upstream_service: http://127.0.0.1:19090`` served ``http://http://127.0.0.1:19090:19090``, and
``dex.ingress.host: "http://localhost:24180"`` made the issuer ``http://http://...``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Problems = Callable[..., list[str]]


def test_upstream_service_with_a_scheme_and_a_port(problems: Problems, example: dict[str, Any]) -> None:
    example["iap"]["deployments"]["grafana"]["upstream_service"] = "http://127.0.0.1:19090"
    assert problems(example) == [
        "iap.deployments.grafana.upstream_service: expected a host name or IP address alone, such as "
        "grafana.monitoring.svc.cluster.local, got 'http://127.0.0.1:19090': write upstream_service: "
        "127.0.0.1, upstream_port: 19090 (the port is upstream_port, TLS is upstream_scheme: https)"
    ]


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("127.0.0.1:19090", "write upstream_service: 127.0.0.1, upstream_port: 19090"),
        (
            "https://grafana.monitoring.svc",
            "write upstream_service: grafana.monitoring.svc, upstream_scheme: https",
        ),
        ("http://[::1]:3000/", "write upstream_service: [::1], upstream_port: 3000"),
        ("::1", "write an IPv6 address in brackets: [::1]"),
        ("grafana/api", "expected a host name or IP address"),
    ],
)
def test_upstream_service_refusals_say_what_to_write(
    problems: Problems, example: dict[str, Any], value: str, fix: str
) -> None:
    example["iap"]["deployments"]["grafana"]["upstream_service"] = value
    [found] = problems(example)
    assert found.startswith("iap.deployments.grafana.upstream_service: ") and fix in found, found


@pytest.mark.parametrize("value", ["grafana.monitoring.svc.cluster.local", "127.0.0.1", "[::1]", "grafana"])
def test_upstream_service_hosts_pass(problems: Problems, example: dict[str, Any], value: str) -> None:
    example["iap"]["deployments"]["grafana"]["upstream_service"] = value
    assert problems(example) == []


def test_provider_host_with_a_scheme(problems: Problems, example: dict[str, Any]) -> None:
    example["dex"]["ingress"]["host"] = "http://localhost:24180"
    assert problems(example) == [
        "dex.ingress.host: expected HOST or HOST:PORT without a scheme, got 'http://localhost:24180': write "
        "'localhost:24180' (the provider's scheme is dex.ingress.scheme; a deployment's is the request's)"
    ]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("https://grafana.example.com/", "write 'grafana.example.com'"),
        ("grafana.example.com/grafana", "without a path"),
        ("grafana.example.com:99999", "port 1 to 65535"),
        ("user@grafana.example.com", "expected HOST or HOST:PORT"),
    ],
)
def test_deployment_host_refusals(
    problems: Problems, example: dict[str, Any], value: str, words: str
) -> None:
    example["iap"]["deployments"]["grafana"]["ingress"]["host"] = value
    [found] = problems(example)
    assert found.startswith("iap.deployments.grafana.ingress.host: ") and words in found, found


@pytest.mark.parametrize(
    "value", ["grafana.localhost:4180", "127.0.0.1:8080", "[::1]:4180", "sso.example.com"]
)
def test_hosts_pass(problems: Problems, example: dict[str, Any], value: str) -> None:
    example["iap"]["deployments"]["grafana"]["ingress"]["host"] = value
    example["dex"]["ingress"]["host"] = value
    assert problems(example) == []


@pytest.mark.parametrize(
    "value",
    ["kkp.example.com/dex", "http://http://kkp.example.com/dex", "https:///dex", "ftp://kkp.example.com"],
)
def test_the_issuer_url_is_an_absolute_http_url(
    problems: Problems, example: dict[str, Any], value: str
) -> None:
    example["iap"]["oidc_issuer_url"] = value
    [found] = problems(example)
    assert found.startswith("iap.oidc_issuer_url: "), found

"""``idgate check`` names the callback a deployment will really send (issue #20): the URI comes from
:func:`idgate.wire.callback_url`, the function the sign-in calls, with the scheme the browser will use.

The issue's file: everything on plain http at ``*.localhost:24180``, idgate listening there itself. ``check``
used to suggest ``https://grafana.localhost:24180/oauth/callback``, which passed ``check`` once added and was
refused at sign-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from idgate.config import build_settings, check
from idgate.config.checks import expected_callback
from idgate.config.kkp import deployments, effective_options
from idgate.proxy.signin import SignIn

Analyse = Callable[..., Any]
Found = list[tuple[str, str]]


@pytest.fixture
def cross(analyse: Analyse) -> Callable[[dict[str, Any]], Found]:
    def run(data: dict[str, Any]) -> Found:
        config, found = analyse(data)
        assert found == [], found
        return [(p.severity, str(p)) for p in check(config, "serve")]

    return run


def all_http(example: dict[str, Any], port: int = 24180) -> dict[str, Any]:
    """The example moved onto one machine over plain http, idgate itself listening on ``port``."""
    example["dex"]["ingress"].update(host=f"localhost:{port}", scheme="http")
    example["iap"]["oidc_issuer_url"] = f"http://localhost:{port}/dex"
    for client in example["dex"]["clients"]:
        client["RedirectURIs"] = [f"http://{client['id']}.localhost:{port}/oauth/callback"]
    for dep in example["iap"]["deployments"].values():
        dep["ingress"]["host"] = f"{dep['name']}.localhost:{port}"
    example["idgate"] = {"listen": f"127.0.0.1:{port}"}
    return example


def test_the_all_http_file_is_clean(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    assert cross(all_http(example)) == []


def test_an_https_callback_on_idgates_own_plain_listener_is_an_error_that_names_the_http_one(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    data = all_http(example)
    data["dex"]["clients"][4]["RedirectURIs"] = ["https://grafana.localhost:24180/oauth/callback"]
    assert cross(data) == [
        (
            "error",
            "dex.clients[4].RedirectURIs: does not contain http://grafana.localhost:24180/oauth/callback, "
            "the callback of iap.deployments.grafana (its port is idgate.listen's, 127.0.0.1:24180: the "
            "browser talks to idgate itself, over http); https://grafana.localhost:24180/oauth/callback is "
            "registered, but the sign-in would be refused",
        )
    ]


def test_the_suggestion_is_what_the_sign_in_sends(analyse: Analyse, example: dict[str, Any]) -> None:
    """The same function: the URI ``check`` names is the ``redirect_uri`` of the proxy's sign-in, built from
    the same file, for a request over idgate's plain-http listener (the edge says ``http`` for it)."""
    config, found = analyse(all_http(example))
    assert found == []
    proxies = {p.name: p for p in build_settings(config).proxies}
    for _, dep in deployments(config.iap):
        sent = SignIn(proxies[dep.name], provider=None).redirect_uri("http")  # type: ignore[arg-type]
        assert expected_callback(config, dep, effective_options(config.iap, dep)).uri == sent
        assert sent == f"http://{dep.name}.localhost:24180/oauth/callback"


def test_an_http_provider_elsewhere_makes_http_likely_and_https_alone_a_warning(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    """Not on idgate's own port: nginx or an ingress may be in front, so the other scheme only warns."""
    example["dex"]["ingress"]["scheme"] = "http"
    example["iap"]["oidc_issuer_url"] = "http://kkp.example.com/dex"
    found = cross(example)
    assert [s for s, _ in found] == ["warning"] * 3
    assert [m for _, m in found if "grafana" in m] == [
        "dex.clients[4].RedirectURIs: holds https://grafana.kkp.example.com/oauth/callback, but "
        "iap.deployments.grafana sends http://grafana.kkp.example.com/oauth/callback (the provider is on "
        "plain http, dex.ingress.scheme); register http://grafana.kkp.example.com/oauth/callback, or set "
        "config.redirect_url to the address the browser uses"
    ]


def test_cookie_secure_true_makes_https_likely(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    dep = example["iap"]["deployments"]["grafana"]
    dep["ingress"]["host"] = "grafana.localhost:8443"
    dep["config"]["cookie_secure"] = True
    example["dex"]["clients"][4]["RedirectURIs"] = ["http://grafana.localhost:8443/oauth/callback"]
    [(severity, message)] = cross(example)
    assert severity == "warning"
    assert "sends https://grafana.localhost:8443/oauth/callback (cookie_secure is true)" in message


def test_nothing_registered_is_an_error_naming_the_likely_one(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["dex"]["ingress"]["scheme"] = "http"
    example["iap"]["oidc_issuer_url"] = "http://kkp.example.com/dex"
    example["dex"]["clients"][4]["RedirectURIs"] = ["http://elsewhere.example.com/cb"]
    errors = [m for s, m in cross(example) if s == "error"]
    assert errors == [
        "dex.clients[4].RedirectURIs: does not contain http://grafana.kkp.example.com/oauth/callback, the "
        "callback of iap.deployments.grafana (the provider is on plain http, dex.ingress.scheme)"
    ]


def test_redirect_url_is_sent_as_written(
    cross: Callable[[dict[str, Any]], Found], example: dict[str, Any]
) -> None:
    example["iap"]["deployments"]["grafana"]["config"]["redirect_url"] = "http://g.example.com/oauth/callback"
    example["dex"]["clients"][4]["RedirectURIs"] = ["https://g.example.com/oauth/callback"]
    [(severity, message)] = cross(example)
    assert severity == "error"
    assert message.startswith(
        "dex.clients[4].RedirectURIs: does not contain http://g.example.com/oauth/callback, the callback of "
        "iap.deployments.grafana (config.redirect_url); https://g.example.com/oauth/callback is registered"
    )


def test_with_tls_on_idgates_own_listener_the_callback_is_https(
    analyse: Analyse, example: dict[str, Any], tmp_path: Any
) -> None:
    """``idgate.tls`` makes idgate's own listener https: the callback check names the https URI."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("grafana.localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    data = all_http(example)
    data["idgate"]["tls"] = {"cert": str(tmp_path / "cert.pem"), "key": str(tmp_path / "key.pem")}
    config, found = analyse(data)
    assert found == []
    dep = next(d for _, d in deployments(config.iap) if d.name == "grafana")
    callback = expected_callback(config, dep, effective_options(config.iap, dep))
    assert callback.uri == "https://grafana.localhost:24180/oauth/callback" and callback.certain

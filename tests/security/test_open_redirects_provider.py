"""Open redirects through the provider's sinks, with the public corpus (``../shared/testdata``):
``redirect_uri`` at ``/auth``, ``post_logout_redirect_uri`` at ``/logout``, the device page's
``user_code`` link, and the connector callback. None may answer with a ``Location`` off the registered
URIs. The proxy's sinks (``rd`` at start/sign_in/sign_out, ``X-Auth-Request-Redirect``, the value carried
in ``state``) run the same corpus in ``tests/unit/proxy/test_redirects.py`` and
``tests/integration/proxy/test_signin_flow.py``; they are not repeated here.

Also: ``redirect_uri`` is matched exactly (RFC 8252 loopback ports only for public clients) and every
OAuth parameter sent twice is refused."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import pytest
from tests.e2e.harness import Running
from tests.shared_data import shared_testdata

from idgate.net import LocalResolver
from idgate.oauth2.redirect_uris import redirect_uri_registered

pytestmark = pytest.mark.e2e

CORPUS = [
    line
    for line in shared_testdata("open-redirects.txt").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def params(idgate: Running, **over: str) -> dict[str, str]:
    base = {
        "client_id": "prometheus",
        "redirect_uri": idgate.url("prometheus", "/oauth/callback"),
        "response_type": "code",
        "scope": "openid email",
        "state": "s",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    base.update(over)
    return base


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=LocalResolver(), limit=8))


async def test_corpus_as_redirect_uri_never_redirects(idgate: Running) -> None:
    async with session() as http:
        for payload in CORPUS:
            query = urlencode(params(idgate, redirect_uri=payload))
            async with http.get(idgate.url("kkp", "/dex/auth?" + query), allow_redirects=False) as r:
                assert r.status == 400 and "Location" not in r.headers, payload


async def test_corpus_as_post_logout_redirect_uri_never_redirects(idgate: Running) -> None:
    async with session() as http:
        for payload in CORPUS:
            query = urlencode({"client_id": "prometheus", "post_logout_redirect_uri": payload})
            async with http.get(idgate.url("kkp", "/dex/logout?" + query), allow_redirects=False) as r:
                assert "Location" not in r.headers, payload


async def test_corpus_in_device_and_callback_never_redirects(idgate: Running) -> None:
    async with session() as http:
        for payload in CORPUS[:200]:
            for path in (
                "/dex/device?" + urlencode({"user_code": payload}),
                "/dex/callback?" + urlencode({"state": payload, "code": "x", "redirect_uri": payload}),
            ):
                async with http.get(idgate.url("kkp", path), allow_redirects=False) as r:
                    assert "Location" not in r.headers, (path, payload)


async def test_device_link_is_built_from_the_issuer_not_the_host(idgate: Running) -> None:
    async with session() as http:
        auth = aiohttp.BasicAuth("prometheus", "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX")
        headers = {"X-Forwarded-Host": "evil.example", "Host": f"kkp.localhost:{idgate.port}"}
        url = idgate.url("kkp", "/dex/device/code")
        async with http.post(url, data={"scope": "openid"}, auth=auth, headers=headers) as r:
            doc = await r.json()
    if r.status == 200:
        assert doc["verification_uri"] == idgate.url("kkp", "/dex/device")
        assert doc["verification_uri_complete"].startswith(idgate.url("kkp", "/dex/device?"))
    else:  # the device grant is off for this client: the error still names no foreign host
        assert "evil" not in str(doc)


@pytest.mark.parametrize(
    "variant",
    [
        "{u}/",
        "{u}?x=1",
        "{u}#f",
        "{u}%2F",
        "{U}",
        "{u} ",
        "{u}/..",
        "{u}/../callback",
    ],
)
async def test_redirect_uri_is_matched_exactly(idgate: Running, variant: str) -> None:
    registered = idgate.url("prometheus", "/oauth/callback")
    uri = variant.format(u=registered, U=registered.upper())
    async with session() as http:
        query = urlencode(params(idgate, redirect_uri=uri))
        async with http.get(idgate.url("kkp", "/dex/auth?" + query), allow_redirects=False) as r:
            assert r.status == 400 and "Location" not in r.headers, uri


@pytest.mark.parametrize(
    "name", ["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge"]
)
async def test_a_repeated_authorization_parameter_is_refused(idgate: Running, name: str) -> None:
    items = [*params(idgate).items(), (name, params(idgate)[name])]
    url = idgate.url("kkp", "/dex/auth?" + urlencode(items))
    async with session() as http, http.get(url, allow_redirects=False) as r:
        if name in ("client_id", "redirect_uri"):
            assert r.status == 400 and "Location" not in r.headers  # never redirect unverified
        else:
            location = r.headers.get("Location", "")
            assert r.status == 302 and "error=invalid_request" in location, (r.status, location)


@pytest.mark.parametrize("name", ["grant_type", "code", "redirect_uri", "code_verifier", "client_id"])
async def test_a_repeated_token_parameter_is_refused(idgate: Running, name: str) -> None:
    data = {"grant_type": "authorization_code", "code": "c", "redirect_uri": "r", "code_verifier": "v"}
    data["client_id"] = "prometheus"
    items = [*data.items(), (name, data[name])]
    auth = aiohttp.BasicAuth("prometheus", "Pq7wE3rT9yU1iO5pA2sD8fG4hJ6kL0zX")
    async with session() as http, http.post(idgate.url("kkp", "/dex/token"), data=items, auth=auth) as r:
        doc = await r.json()
        assert r.status in (400, 401) and doc["error"] in ("invalid_request", "invalid_client"), doc


# -- RFC 8252 loopback redirects (pure) -------------------------------------------------------------

LOOPBACK = ("http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/cb")


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000/cb", "http://[::1]:49152/cb", "http://127.0.0.1/cb"])
def test_public_clients_may_vary_the_loopback_port(uri: str) -> None:
    assert redirect_uri_registered(uri, LOOPBACK, public=True)


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost:5000/cb",  # a name, not a loopback IP (RFC 8252 §8.3)
        "http://127.0.0.1:5000/cb/",
        "http://127.0.0.1:5000/cb?x",
        "http://127.0.0.1:5000/cb#f",
        "http://127.0.0.1:05000/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:99999/cb",
        "https://127.0.0.1:5000/cb",
        "http://u@127.0.0.1:5000/cb",
        "http://127.0.0.1:5000@evil.example/cb",
        "http://127.0.0.2:5000/cb",
    ],
)
def test_loopback_exception_is_narrow(uri: str) -> None:
    assert not redirect_uri_registered(uri, LOOPBACK, public=True)


def test_confidential_clients_get_no_port_exception() -> None:
    assert not redirect_uri_registered("http://127.0.0.1:5000/cb", LOOPBACK, public=False)
    assert redirect_uri_registered("http://127.0.0.1/cb", LOOPBACK, public=False)

"""Where an error or logged-out page may link back to: the origin of a registered redirect URI, only."""

from __future__ import annotations

import pytest

from idgate.oauth2.redirect_uris import application_home


@pytest.mark.parametrize(
    ("registered", "home"),
    [
        (("https://grafana.example.com/login/generic_oauth",), "https://grafana.example.com/"),
        (("http://prometheus.localhost:4180/oauth/callback",), "http://prometheus.localhost:4180/"),
        (("com.example.app:/cb", "https://app.example/cb"), "https://app.example/"),  # the first http(s) one
        (("https://user:pw@app.example/cb",), None),  # never a URL with credentials
        (("https://app.example:99999/cb",), None),  # a malformed port
        (("myapp://cb",), None),
        ((), None),
    ],
)
def test_application_home_is_the_origin_of_a_registered_http_uri(
    registered: tuple[str, ...], home: str | None
) -> None:
    assert application_home(registered) == home

"""Sign-out with Redis sessions ends the session in the process that served it at once: its edge remembers
a Redis session for up to two seconds (``STATEFUL_MEMO_SECONDS``), and a copy of the cookie sent right
after sign-out must not ride on that memo."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from tests.e2e.browser import Browser
from tests.e2e.harness import Running, Upstream, free_port, local_values, start_idgate, stop_idgate
from tests.security.flows import sign_in
from tests.security.rawhttp import exchange, status

pytestmark = pytest.mark.e2e

COOKIE = "grafana_oauth2_proxy"


@pytest.fixture(scope="module")
def redis_idgate(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("redis-sign-out")
    port = free_port()
    values = local_values(port, upstream.port, tmp / "data")
    config = values["iap"]["deployments"]["grafana"]["config"]
    config.update(session_store_type="redis", redis_connection_url="redis://127.0.0.1:6379/13")
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    running = start_idgate(["serve", "--config", str(path)], port, tmp / "idgate.log")
    yield running
    assert stop_idgate(running) == 0, running.output()


def _get(idgate: Running, cookie: str) -> bytes:
    host = f"grafana.localhost:{idgate.port}"
    return exchange(
        idgate.port, f"GET /private HTTP/1.1\r\nHost: {host}\r\nCookie: {COOKIE}={cookie}\r\n\r\n".encode()
    )


async def test_a_copy_of_a_signed_out_redis_session_is_refused_at_once(
    redis_idgate: Running, upstream: Upstream
) -> None:
    async with Browser() as b:
        await sign_in(b, redis_idgate)
        copy = b.cookies_for(redis_idgate.url("grafana"))[COOKIE]
        assert status(_get(redis_idgate, copy)) == 200  # the edge now remembers the session
        await b.get(redis_idgate.url("grafana", "/oauth/sign_out"))
    upstream.clear()
    got = _get(redis_idgate, copy)
    assert status(got) == 302, got[:300]
    assert upstream.seen == []

"""Issue 20: the access line names the client's address, behind the proxies the deployment trusts."""

from __future__ import annotations

import json
import logging

import pytest
from tests.unit.edge.conftest import Client, Env, alice, seal

from idgate.edge.trust import Trust
from idgate.runtime.logs import JsonFormatter, TextFormatter

AUTH = f"Cookie: app_oauth2_proxy={seal(alice())}\r\n"
DEFAULT = Trust(())


@pytest.mark.parametrize(
    ("peer", "forwarded", "real_ip", "client"),
    [
        # no forwarding headers: the peer
        (b"198.51.100.4", b"", b"", b"198.51.100.4"),
        # a peer that is no trusted proxy cannot speak for anyone
        (b"198.51.100.4", b"203.0.113.7", b"203.0.113.8", b"198.51.100.4"),
        # an ingress on a private network: the entry it appended
        (b"10.0.0.2", b"203.0.113.7", b"", b"203.0.113.7"),
        # a client's own X-Forwarded-For stays to the left of what the trusted hops vouch for
        (b"10.0.0.2", b"1.1.1.1, 203.0.113.7", b"", b"203.0.113.7"),
        # several trusted hops: the right-most untrusted entry
        (b"127.0.0.1", b"203.0.113.7, 10.0.0.9, 192.168.1.1", b"", b"203.0.113.7"),
        # everyone trusted: the left-most address
        (b"127.0.0.1", b"10.0.0.5, 10.0.0.9", b"", b"10.0.0.5"),
        # an entry that is no address ends the walk at the last one that was
        (b"127.0.0.1", b"<script>, 10.0.0.9", b"", b"10.0.0.9"),
        (b"127.0.0.1", b"203.0.113.7:4711", b"", b"127.0.0.1"),
        # X-Real-IP from a trusted proxy when it sent no X-Forwarded-For
        (b"127.0.0.1", b"", b"203.0.113.9", b"203.0.113.9"),
        (b"127.0.0.1", b"", b"not an address", b"127.0.0.1"),
        # IPv6, and an IPv4-mapped trusted proxy
        (b"::1", b"2001:db8::7", b"", b"2001:db8::7"),
        (b"::ffff:10.0.0.2", b"203.0.113.7", b"", b"203.0.113.7"),
    ],
)
def test_client_is_the_right_most_address_no_trusted_proxy_vouches_for(
    peer: bytes, forwarded: bytes, real_ip: bytes, client: bytes
) -> None:
    assert DEFAULT.client(peer, forwarded, real_ip) == client


def test_trusted_proxy_ips_and_reverse_proxy_decide_who_may_speak_for_the_client() -> None:
    only_lb = Trust(["192.0.2.10/32"])
    assert only_lb.client(b"192.0.2.10", b"10.0.0.5") == b"10.0.0.5"
    assert only_lb.client(b"127.0.0.1", b"203.0.113.7") == b"127.0.0.1"
    nobody = Trust(["192.0.2.10/32"], enabled=False)
    assert nobody.client(b"192.0.2.10", b"203.0.113.7") == b"192.0.2.10"


def test_behind_the_edge_the_last_forwarded_entry_is_the_peer() -> None:
    assert DEFAULT.forwarded_client("203.0.113.7, 127.0.0.1") == "203.0.113.7"
    assert DEFAULT.forwarded_client("198.51.100.4") == "198.51.100.4"
    assert DEFAULT.forwarded_client("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert DEFAULT.forwarded_client("") == ""


def test_forwarded_entries_never_crowd_the_peers_out_of_the_memo() -> None:
    trust = Trust(())
    assert trust.trusts(b"127.0.0.1")
    for i in range(5000):
        trust.client(b"127.0.0.1", f"203.0.{i // 256}.{i % 256}".encode())
    assert trust._memo == {b"127.0.0.1": True}


def access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "idgate.access"]


async def test_the_access_line_names_the_client_behind_a_trusted_proxy(
    env: Env, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    xff = "X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n"
    with caplog.at_level(logging.INFO, logger="idgate.access"):
        await client.get("/x", headers=AUTH + xff)  # proxied
        await client.get("/oauth/start", headers=xff)  # the sign-in app
        await client.get("/dex/keys", host="idp.test", headers=xff)  # the provider
        await client.get("/y", headers=AUTH)  # no forwarding header: the peer
    records = access(caplog)
    assert [r.__dict__["client_ip"] for r in records] == ["203.0.113.7"] * 3 + ["127.0.0.1"]
    text = TextFormatter().format(records[0])
    assert " idgate.access 203.0.113.7 GET app.test /x 200 " in text, text
    assert text.count("203.0.113.7") == 1, "the access line's fields are in its message, once"
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["client_ip"] == "203.0.113.7" and line["path"] == "/x"


@pytest.mark.parametrize("proxy_overrides", [{"trusted_proxy_ips": ("192.0.2.10/32",)}])
async def test_a_peer_the_deployment_does_not_trust_is_the_client(
    env: Env, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="idgate.access"):
        await client.get("/x", headers=AUTH + "X-Forwarded-For: 203.0.113.7\r\nX-Real-IP: 203.0.113.8\r\n")
    (record,) = access(caplog)
    assert record.__dict__["client_ip"] == "127.0.0.1"
    assert "203.0.113" not in record.getMessage()

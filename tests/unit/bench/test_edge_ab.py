"""bench/edge_ab.py drives this tree's edge: every case answers as checked, through the real connection
classes (no patching, so the compiled build runs the same way)."""

from __future__ import annotations

from bench.edge_ab import CASES, UPSTREAM_ANSWER, Edge, child_run, request


async def test_every_case_runs_and_passes_its_check_before_and_after() -> None:
    ns = await child_run(3, list(CASES))
    assert list(ns) == list(CASES)
    assert all(v > 0 for v in ns.values())


async def test_a_forwarded_exchange_carries_the_identity_and_relays_the_answer() -> None:
    edge = Edge(10_000)
    cookie = edge.sealed("alice@example.com")
    edge.conn.data_received(request(b"/api/v1/query?q=up", cookie))
    sent = edge.upstream.written()
    assert sent.startswith(b"GET /api/v1/query?q=up HTTP/1.1\r\n")
    assert b"\r\nX-Forwarded-User: alice-sub\r\n" in sent and b"app_oauth2_proxy" not in sent
    edge.up.data_received(UPSTREAM_ANSWER)
    answer = edge.client.written()
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"x" * 1023 + b"\n")
    edge.check("forward", request(b"/", cookie), 200, forwarded=True)  # the pool kept the connection

"""Sign-out ends a cookie session, copies included (issue 18), in one process over real sockets: the
edge (whose memo already holds the verified cookie), the sign-in app and the test OIDC provider.

Across processes and replicas: ``tests/integration/replicas/test_revocation.py`` (two replicas on
PostgreSQL) and ``tests/e2e/test_workers.py`` (``--workers 2`` on one SQLite file)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.proxy.edge_world import cookie_pairs, edge_world, set_cookies, sign_in

BROWSER = "Accept: text/html\r\n"


async def test_a_copied_cookie_is_refused_after_sign_out(tmp_path: Path) -> None:
    async with edge_world(tmp_path) as w:
        c = await w.client()
        try:
            _, callback = await sign_in(w, c)
            assert callback.status == 302
            copied = f"Cookie: {cookie_pairs(callback)}\r\n"  # what an attacker took from the browser
            for path in ("/before-1", "/before-2"):  # the second is answered from the edge's memo
                r = await c.get(path, headers=copied)
                assert r.status == 200 and r.upstream_header("X-Forwarded-Email") == ["alice@example.com"]
            out = await c.get("/oauth/sign_out", headers=copied)
            assert out.status == 302 and "Max-Age=0" in set_cookies(out)["app_oauth2_proxy"]
            w.upstream.requests.clear()
            r = await c.get("/after", headers=BROWSER + copied)
            assert r.status == 302 and (r.header("Location") or "").startswith("/oauth/start")
            r = await c.get("/oauth/auth", headers=copied)
            assert r.status == 401
            r = await c.get("/oauth/userinfo", headers=copied)
            assert r.status == 401
            assert w.upstream.requests == []
            # signing in again gives a new session, which works
            _, again = await sign_in(w, c)
            r = await c.get("/new", headers=f"Cookie: {cookie_pairs(again)}\r\n")
            assert r.status == 200
        finally:
            await c.close()

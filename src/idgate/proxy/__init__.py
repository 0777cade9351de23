"""The proxy's sign-in flow: how a browser without a session becomes one with a session.

Routes (under ``/oauth`` on a deployment's host; the edge forwards them here with
``X-Idgate-Deployment``)::

    GET  /oauth/start?rd=      new sign-in: CSRF cookie, 302 to the provider's authorization_endpoint
    GET  /oauth/sign_in?rd=    the same (the charts run with --skip-provider-button); with
                               skip_provider_button false, a page with the provider button
    GET  /oauth/callback       code + state back from the provider -> session cookie, 302 to rd
    GET|POST /oauth/sign_out   clear the session and CSRF cookies, 302 to rd (through the provider's
                               end_session_endpoint, with id_token_hint, when it offers one); with
                               the session store down: the cookies cleared all the same, and a 503
                               page that says the session was not ended on the server
    GET  /oauth/userinfo       {"user", "email", "preferredUsername", "groups"} or 401

The states of one sign-in::

    no session ──/oauth/start──▶ started: cookie <name>_oauth2_proxy_csrf holds
                                 {state, nonce, PKCE verifier, validated rd, expires = now + 15 min}
                                 (sealed for the purpose "csrf"), browser sent to the provider
    started ──callback, cookie opens, state equal (constant time)──▶ exchanging
    started ──no/altered/expired cookie, or state differs──▶ 403 "login session expired", start again
    started ──callback?error=...──▶ 403 page naming the provider's error code
    exchanging ──token endpoint (client_secret_basic + code_verifier)──▶ verifying
    exchanging ──unreachable / 5xx──▶ 502 page;  4xx (e.g. a replayed code) ──▶ 403 page
    verifying ──ID token: RS256/ES256 signature from the JWKS, iss, aud/azp, exp, iat, nonce; email or
                groups claim missing: UserInfo with the access token (same sub); then email_verified,
                sub, email──▶ signed in: session cookie <name>_oauth2_proxy (sealed for
                "session", chunked when large), CSRF cookie cleared, 302 to rd
    verifying ──anything wrong──▶ 403 page
    verified ──the session store (Redis) down──▶ 503 page, no session, CSRF cookie cleared

The core is framework-free: the rules (:mod:`idgate.proxy.redirects`: is this post-login target safe —
the only place; :mod:`idgate.proxy.csrf`: the state cookie; :mod:`idgate.proxy.cookies`,
:mod:`idgate.proxy.headers`, :mod:`idgate.proxy.assertion`, :mod:`idgate.proxy.bearer`), the sign-in steps
(:mod:`idgate.proxy.signin`: start, finish -> session, renew), the failure table
(:mod:`idgate.proxy.failures`: which failure is which page, the one mapping) and the wiring that the edge
and the web layer share (:mod:`idgate.proxy.services`). The relying party's side of OpenID Connect
(discovery, JWKS, code exchange, ID token verification) is :mod:`idgate.oidc.client`, the session cookie
:mod:`idgate.sessions.cookie_store`. :mod:`idgate.proxy.web` is the thin aiohttp layer (parse, call the core,
render) with the one error renderer. API clients skip all of this with a bearer JWT
(``skip_jwt_bearer_tokens``): :mod:`idgate.proxy.bearer`, judged by the edge.
"""

"""The provider's web layer: an OpenID Connect provider in Dex's place, under Dex's paths.

Routes (full paths under the issuer path, e.g. ``/dex``; the edge forwards paths unchanged)::

    GET      {path}/.well-known/openid-configuration   discovery (oidc.discovery)
    GET      {path}/keys                               JWKS of the signing keys (oidc.keys)
    GET|POST {path}/auth                               authorization request -> pending login
    GET|POST {path}/auth/{connector}                   the same, with the connector chosen
    GET      {path}/auth/{connector}/login?req=ID      the login form
    POST     {path}/auth/{connector}/login             the login form's submission
    POST     {path}/token                              token endpoint (authorization_code)
    GET|POST {path}/userinfo                           claims of a Bearer access token
    GET      {path}/healthz                            "ok"

The states of a login::

    /auth?client_id&redirect_uri&...
      │ client unknown / redirect_uri not registered ──────────────▶ error PAGE (never a redirect)
      │ other problem (response_type, scope, PKCE) ─────────────────▶ 302 redirect_uri?error&state&iss
      ▼ valid
    AuthRequest stored (expires after dex.expiry.authRequests), bound to the browser cookie
      │ one connector: 303 ──▶ {path}/auth/local/login?req=ID       (several: a chooser page first)
      ▼
    login form ── POST wrong password ──▶ the form again, 200, "Invalid email or password."
      │           POST from another browser / expired / used ──────▶ error PAGE
      ▼ POST right password
    AuthRequest deleted (claims it), AuthCode stored (hashed, ≤ 60 s, single use)
      │ 302 redirect_uri?code&state&iss
      ▼
    POST /token (client_secret_basic | client_secret_post, code, redirect_uri, code_verifier)
      │ code redeemed once ─▶ {access_token, token_type, expires_in, id_token}
      ▼
    GET /userinfo (Authorization: Bearer access_token)

Modules: :mod:`.app` builds the aiohttp app, :mod:`.routes` parses and calls :mod:`.service` (the core,
no web imports), :mod:`.render` answers every error in one place.
"""

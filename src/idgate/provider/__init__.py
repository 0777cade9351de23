"""The provider: an OpenID Connect provider in Dex's place, under Dex's paths.

Routes (full paths under the issuer path, e.g. ``/dex``; the edge forwards paths unchanged)::

    GET      {path}/.well-known/openid-configuration   discovery: exactly what is on (oidc.discovery)
    GET      {path}/keys                               JWKS: signer, next key, retired keys (oidc.keys)
    GET|POST {path}/auth                               authorization request (code; implicit if enabled)
    GET|POST {path}/auth/{connector}                   the same, with the connector chosen (Dex's path)
    GET      {path}/auth/{connector}/login?req=ID      bind the connector: its password form, or 303 upstream
    POST     {path}/auth/{connector}/login             the password form's submission
    POST     {path}/auth/{connector}/totp              the second-factor code (local users who have one)
    GET|POST {path}/approval?req=ID                    the approval screen (skipApprovalScreen: false)
    GET|POST {path}/callback                           a callback connector's return (state = request id)
    POST     {path}/token                              every grant (code, refresh, device, password if on)
    POST     {path}/token/introspect                   RFC 7662, confidential clients
    POST     {path}/token/revoke                       RFC 7009
    POST     {path}/device/code                        RFC 8628 device authorization
    GET|POST {path}/device                             the page where a person enters the user code
    POST     {path}/device/token                       RFC 8628 polling (same grants as /token)
    GET|POST {path}/userinfo                           claims of a live Bearer access token
    GET|POST {path}/logout                             RP-initiated logout (end_session_endpoint)
    GET      {path}/healthz                            "ok"
    GET      {path}/theme/{file}                       a file of the theme (logo, favicon, styles.css: .theme)

The states of a login::

    /auth?client_id&redirect_uri&...
      │ client unknown / redirect_uri not registered ──────────────▶ error PAGE (never a redirect)
      │ other problem (response_type, scope, PKCE, prompt, peers) ──▶ 302 redirect_uri?error&state&iss
      ▼ valid
      │ SSO cookie with a usable session (prompt, max_age, the client's allowedConnectors)
      │   └────────────────────────────────────────────────────────▶ 302 redirect_uri?code&state&iss
      │ prompt=none and no usable session ─────────────────────────▶ 302 ...?error=login_required
      ▼
    AuthRequest stored (dex.expiry.authRequests), bound to the browser cookie
      │ connector known (one allowed, /auth/{c}, connector_id) ─▶ 303 {path}/auth/{c}/login?req=ID
      │ several allowed ─▶ chooser page, links to {path}/auth/{c}/login?req=ID
      ▼
    {path}/auth/{c}/login?req=ID
      │ password connector: the form ── wrong password ─▶ the form again, 200 (after 1 s)
      │   too many failures for the account or address (.throttle) ─▶ the form, 429, not checked
      │   right password, local user with a TOTP second factor (.second_factor) ─▶ the code form
      │     POST .../totp (same browser, ≤ 5 min) ── wrong or replayed code ─▶ the code form again,
      │     counted like a wrong password (same counters, same delay, 429 when locked)
      │ callback connector: 303 upstream ─▶ {path}/callback?state=ID&... (another browser: error PAGE)
      ▼ authenticated
    AuthRequest deleted (claims it); LoginSession started (idgate_session cookie, auth_time = now)
      │ skipApprovalScreen: false, or prompt=consent (not for device logins; .approval):
      │   AuthRequest stored again (approval_pending) ─▶ 303 {path}/approval?req=ID, the page
      │   POST approval=deny ─▶ 303 redirect_uri?error=access_denied&state&iss; approve ─▼
      │   (prompt=none instead ─▶ 302 redirect_uri?error=consent_required&state&iss)
      │ code flow: AuthCode stored (hashed, ≤ 60 s, single use) ─▶ 302 redirect_uri?code&state&iss
      │ implicit (if on): tokens ─────────────────────────────────▶ 302 redirect_uri#id_token&...&iss
      │ device login: DeviceToken approved ───────────────────────▶ "go back to your device" page
      ▼
    POST /token (client_secret_basic | client_secret_post | none for public clients)
      │ authorization_code: PKCE S256 (unless the client has requirePKCE: false); a replay revokes
      │   what the first redemption issued
      │ refresh_token: rotated every use; a spent token again revokes its family
      ▼ {access_token, token_type, expires_in, id_token, scope[, refresh_token]}  Cache-Control: no-store
    GET /userinfo, /token/introspect, /token/revoke, /logout (ends the session and its refresh tokens)

Modules. The core (no web framework, no aiohttp; unit-tested without a server): :mod:`.core` assembles
one :class:`~.core.Provider` from its parts -- :mod:`.login` (with :mod:`.approval`, :mod:`.second_factor`
and its codes :mod:`.totp`, :mod:`.throttle`), :mod:`.device_login`, :mod:`.sso`, :mod:`.logout`,
:mod:`.tokens`, :mod:`.password_grant` and :mod:`.connectors`; :mod:`.outcomes` is what they hand back.
:mod:`.token_endpoint` answers ``/token`` for both front doors; :mod:`.answers` is how an error is answered
without a framework. :mod:`.token_lane` is the edge's lane to the token endpoint (bytes in, bytes out).
The web layer (:mod:`.web`: app, routes, pages, render, theme, templates) parses a request, calls a part,
and renders.
"""

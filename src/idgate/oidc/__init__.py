"""OpenID Connect on top of :mod:`idgate.oauth2`. The provider's side: Dex-compatible subjects
(:mod:`.subject`), signing keys and the JWKS (:mod:`.keys`), ID tokens and their claims (:mod:`.id_token`),
the discovery document (:mod:`.discovery`). The relying party's side, shared by the proxy and the ``oidc``
connector: discovery, the JWKS cache, token requests and ID token verification (:mod:`.client`)."""

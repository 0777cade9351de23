"""OpenID Connect on top of :mod:`idgate.oauth2`: Dex-compatible subjects (:mod:`.subject`), signing keys
and the JWKS (:mod:`.keys`), ID tokens and their claims (:mod:`.id_token`), the discovery document
(:mod:`.discovery`)."""

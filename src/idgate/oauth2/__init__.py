"""The OAuth 2.0 protocol core, with no web framework: parsed requests (:mod:`.requests`), errors that
carry their RFC 6749 code (:mod:`.errors`), client authentication (:mod:`.client_auth`), PKCE
(:mod:`.pkce`), scopes (:mod:`.scopes`) and grants (:mod:`.grants`)."""

"""How people authenticate: the capability protocols (:mod:`.base`) and the connectors. For now only
:mod:`.local` (``staticPasswords``); LDAP, GitHub, GitLab, Google and OIDC come later."""

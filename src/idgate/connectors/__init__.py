"""How people authenticate: the capability protocols (:mod:`.base`), the errors (:mod:`.errors`) and one
module per connector type, each declaring its type once (``TYPE``: name, typed config model, opener):
:mod:`.local` (``staticPasswords``), :mod:`.ldap`, :mod:`.github`, :mod:`.gitlab`, :mod:`.google`,
:mod:`.oidc`. :mod:`.registry` lists them, maps ``dex.connectors[].type`` to each one's declaration and
builds them; their outbound HTTP goes through :mod:`idgate.net` (:mod:`.http` holds what they share)."""

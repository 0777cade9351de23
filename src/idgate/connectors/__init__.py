"""How people authenticate: the capability protocols (:mod:`.base`), the errors (:mod:`.errors`) and one
module per connector type: :mod:`.local` (``staticPasswords``), :mod:`.ldap`, :mod:`.github`,
:mod:`.gitlab`, :mod:`.google`, :mod:`.oidc`. :mod:`.registry` maps ``dex.connectors[].type`` to each
one's typed config model and builds them."""

"""idgate: single sign-on for internal web services.

Two roles, one config file (the Kubermatic ``oauth`` and ``iap`` Helm values):

- the **provider** (``idgate.provider``), an OpenID Connect identity provider in Dex's place;
- the **proxy** (``idgate.proxy`` + ``idgate.edge``), an identity-aware reverse proxy in OAuth2-Proxy's place.
"""

__version__ = "0.1.0"

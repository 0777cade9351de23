"""idgate's reproducible benchmarks (``make bench``): idgate beside nginx, Apache + mod_auth_openidc and
the npm ``oidc-provider``, measured side by side in one run on loopback. See ``bench/README.md``."""

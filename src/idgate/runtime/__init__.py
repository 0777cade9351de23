"""The process wiring of ``idgate serve``: the only place that builds parts and connects them.

::

    idgate serve (idgate.cli.serve)
      └── processes.serve(settings, workers=N)   logs (.logs), metrics (.metrics); forks N workers that
            │                                    share the port (SO_REUSEPORT) and the metrics port
            └── worker.run_worker                one event loop (uvloop) per worker
                  ├── build.build_runtime         -> Runtime: storage, provider app (keys, connectors),
                  │                                  proxies' services (session stores, refresh, signers),
                  │                                  revocations, route table (compiled policies), checks
                  ├── listeners                   the public socket; web apps on private unix sockets
                  ├── the edge (idgate.edge)      the public listener; routes by Host to the web apps
                  ├── health                      probes and /metrics on their own addresses
                  └── demo_upstream               only in the embedded demo

``idgate serve --role provider|proxy [--deployment NAME]`` runs part of the file: :func:`.roles.select_role`
narrows the settings, and the worker starts only what is left (no storage without the provider, except
for the revocation list of cookie sessions).

The cores (``oauth2``, ``oidc``, ``policy``, ``sessions``, ``storage``, ``connectors``, ``config``, the
proxy's and the provider's) never import this package; what the environment says about the process
(``IDGATE_LOG_LEVEL``, ``PROMETHEUS_MULTIPROC_DIR``) is read by the command and handed in.
"""

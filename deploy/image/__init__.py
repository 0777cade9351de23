"""idgate's container image, built without a container engine (``make image``) or by one
(``deploy/Dockerfile``): one recipe, in these modules.

- :mod:`deploy.image.spec`: what the image is (packages, user, paths, entrypoint, ports, labels);
- :mod:`deploy.image.debian`: the base, from Debian's packages with mmdebstrap, cut down to what runs;
- :mod:`deploy.image.venv`: idgate in ``/opt/idgate``, a virtualenv of the base's Python;
- :mod:`deploy.image.layout`: deterministic layers and the OCI + Docker archive;
- :mod:`deploy.image.build`: the two ways through them, and the cache.

Run from the repository's root: ``python3 -m deploy.image --help``.
"""

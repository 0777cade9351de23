"""Deploying idgate beyond one process: Kubernetes manifests and an nginx ``auth_request`` config.

- :mod:`.kubernetes`: ``idgate render kubernetes`` (the ``oauth`` and ``iap`` charts' objects running idgate),
  built from :mod:`.provider`, :mod:`.proxy`, :mod:`.values` (what each pod reads) and :mod:`.common`;
- :mod:`.nginx`: ``idgate render nginx`` (nginx in front, idgate answering ``/oauth/auth``).

Both are pure: a validated :class:`~idgate.config.Config` in, text or plain objects out; nothing here
opens a socket or reads the environment.
"""

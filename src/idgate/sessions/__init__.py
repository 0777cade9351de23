"""Proxy sessions: the record (:mod:`.base`) and how it is kept (:mod:`.cookie`: sealed in the cookie)."""

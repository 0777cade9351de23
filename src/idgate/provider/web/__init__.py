"""The provider's aiohttp layer: parse a request, call the core (:mod:`idgate.provider`), render.

:mod:`.app` builds the app and its route table; :mod:`.routes` has the back-channel endpoints and what
every handler shares, :mod:`.pages` the browser pages; :mod:`.render` answers every error in one place;
:mod:`.theme` is the pages' look (``dex.frontend``, ``dex.theme``) in idgate's one design
(:mod:`idgate.web`); ``templates/`` holds the pages.
"""

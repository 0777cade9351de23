"""Which ``response_type`` values the authorization endpoint accepts (RFC 6749 §3.1.1, OAuth 2.0
Multiple Response Types §5).

``code`` is the authorization code flow. ``token``, ``id_token`` and ``id_token token`` are the implicit
flow: off unless ``dex.oauth2.responseTypes`` lists their parts, and answered in the fragment. Hybrid
combinations with ``code`` are not supported, so discovery never lists them.
"""

from __future__ import annotations

CODE = "code"
TOKEN = "token"
ID_TOKEN = "id_token"

#: Every combination idgate can answer, in its canonical spelling.
KNOWN = (CODE, ID_TOKEN, f"{ID_TOKEN} {TOKEN}", TOKEN)


def normalise(value: str) -> str:
    """``"token id_token"`` -> ``"id_token token"`` (the order of the parts does not matter)."""
    parts = sorted(set(value.split()))
    return " ".join(parts)


def enabled(configured: tuple[str, ...]) -> tuple[str, ...]:
    """The combinations whose every part is in ``dex.oauth2.responseTypes``."""
    allowed = set(configured)
    return tuple(k for k in KNOWN if set(k.split()) <= allowed)


def is_implicit(response_type: str) -> bool:
    """An implicit-flow response: tokens straight from the authorization endpoint, in the fragment."""
    return CODE not in response_type.split()

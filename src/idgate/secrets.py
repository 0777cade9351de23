"""Fresh secrets for a values file and for the records the commands create: client secrets, cookie
encryption keys, generated passwords.

Pure: :mod:`secrets` is the only source of randomness; nothing is stored or printed here.
"""

from __future__ import annotations

import secrets
import string

__all__ = ["SECRET_ALPHABET", "new_secret"]

SECRET_ALPHABET = string.ascii_letters + string.digits


def new_secret(length: int = 32) -> str:
    """What the KKP docs make with ``tr -dc A-Za-z0-9 </dev/urandom | head -c32``, from :mod:`secrets`."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))

"""Group lists for people in thousands of groups (issue 18): deterministic, distinct, and as hard to
compress as names get, so sizes measured with them are the unfavourable case."""

from __future__ import annotations

import random
import string


def many_groups(n: int, shortest: int = 3, longest: int = 5) -> list[str]:
    """``n`` distinct names of 3 to 5 (``shortest``, ``longest``) random letters and digits: an ID token
    with 3,000 such names is ~30 KB."""
    rnd, alphabet, names = random.Random(n), string.ascii_lowercase + string.digits, dict[str, None]()
    while len(names) < n:
        names["".join(rnd.choices(alphabet, k=rnd.randint(shortest, longest)))] = None
    return list(names)

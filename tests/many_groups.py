"""Group lists for people in thousands of groups (issue 18): deterministic, distinct, and as hard to
compress as names get, so sizes measured with them are the unfavourable case."""

from __future__ import annotations

import random
import string


def many_groups(n: int) -> list[str]:
    """``n`` distinct names of 3 to 5 random letters and digits: an ID token with 3,000 is ~30 KB."""
    rnd, alphabet, names = random.Random(n), string.ascii_lowercase + string.digits, dict[str, None]()
    while len(names) < n:
        names["".join(rnd.choices(alphabet, k=rnd.randint(3, 5)))] = None
    return list(names)

"""The rendered pods' requests and limits, from measurement rather than from the charts' Go-sized defaults.

``bench/pod_sizes.py`` runs each role as its pod does (the rendered values document and Secret, one
process) idle, under a steady paced load and at saturation, and ``bench/RESULTS.md`` ("Pod sizes (issue
17)") keeps the numbers. Each role is sized on the heavier of its measured set-ups (the provider on
PostgreSQL, which loads asyncpg and SQLAlchemy; the proxy with Redis sessions for memory, cookie sessions
for CPU), with these margins:

=================  ==============================================  =====================================
value              from                                            margin, rounding
=================  ==============================================  =====================================
requests.memory    RSS under the steady load                       +25 %, up to a multiple of 16 MiB
limits.memory      peak RSS at saturation (or ``VmHWM``)           +50 %, up to a multiple of 32 MiB
requests.cpu       CPU under the steady load                       +25 %, up to a multiple of 50m
limits.cpu         CPU at saturation                               +25 %, up to a multiple of 100m
=================  ==============================================  =====================================

``dex.resources`` and ``iap.resources`` replace these when the values file sets them (the charts' keys);
a memory value below the measurement is kept, and ``idgate check`` warns (:mod:`.rules`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["MEASURED", "Measured", "memory_mib"]


@dataclass(frozen=True, slots=True)
class Measured:
    """One role's measurement (MiB of RSS, millicores of CPU) and the resources it gives."""

    steady_mib: float
    peak_mib: float
    steady_cpu_m: float
    peak_cpu_m: float

    @property
    def rendered(self) -> dict[str, dict[str, str]]:
        """``{requests: {cpu, memory}, limits: {cpu, memory}}`` with the margins of the module docstring."""
        return {
            "requests": {
                "cpu": f"{_up(self.steady_cpu_m * 1.25, 50)}m",
                "memory": f"{_up(self.steady_mib * 1.25, 16)}Mi",
            },
            "limits": {
                "cpu": f"{_up(self.peak_cpu_m * 1.25, 100)}m",
                "memory": f"{_up(self.peak_mib * 1.5, 32)}Mi",
            },
        }


def _up(value: float, step: int) -> int:
    return math.ceil(value / step) * step


#: bench/RESULTS.md, "Pod sizes (issue 17)" (2 cores, shared): provider = PostgreSQL storage (97.1 MiB
#: steady, 97.2 MiB peak; SQLite: 65.2 / 65.6), 98m at 1 login/s, 749m at 8 concurrent logins; proxy =
#: Redis sessions for memory (66.9 / 67.0 MiB; cookie sessions: 59.8 / 59.8), cookie sessions for CPU
#: (97m at 485 requests/s, 794m at 6550 requests/s).
MEASURED: dict[str, Measured] = {
    "dex": Measured(steady_mib=97.1, peak_mib=97.2, steady_cpu_m=98, peak_cpu_m=749),
    "iap": Measured(steady_mib=66.9, peak_mib=67.0, steady_cpu_m=97, peak_cpu_m=794),
}

_QUANTITY = re.compile(
    r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?"
)
_FACTOR = {
    None: 1.0, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}  # fmt: skip


def memory_mib(value: Any) -> float | None:
    """A Kubernetes memory quantity (``25Mi``, ``128974848``, ``1G``, ``1e9``) in MiB; ``None`` when it is
    not one (the API server reports those)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    match = _QUANTITY.fullmatch(str(value).strip())
    if match is None:
        return None
    number = float(match.group(1)) * 10.0 ** int(match.group(2) or 0)
    return number * _FACTOR[match.group(3)] / 2.0**20

"""Which peers may speak for the client: ``reverse_proxy`` and ``trusted_proxy_ips``.

``X-Forwarded-For``, ``-Proto`` and the ``real_client_ip_header`` are taken from a request only when it
arrives from a trusted proxy (an ingress controller); from anyone else they are replaced by what the edge
itself sees. Without ``trusted_proxy_ips`` the trusted peers are loopback and the private networks
(RFC 1918, RFC 4193) where an ingress controller runs; ``reverse_proxy: false`` trusts no one. The
answer per peer address is remembered (bounded), so the hot path does one dict lookup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

DEFAULT_TRUSTED = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
_MEMO_MAX = 4096

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Trust:
    """Decides whether a peer address is a trusted proxy."""

    __slots__ = ("_memo", "_networks")

    def __init__(self, networks: Sequence[str], *, enabled: bool = True) -> None:
        chosen = (networks or DEFAULT_TRUSTED) if enabled else ()
        self._networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in chosen)
        self._memo: dict[bytes, bool] = {}

    def trusts(self, peer: bytes) -> bool:
        """Whether ``peer`` (the text form of an IP address) is a trusted proxy."""
        hit = self._memo.get(peer)
        if hit is not None:
            return hit
        try:
            addr = ipaddress.ip_address(peer.decode("ascii"))
        except ValueError:
            ok = False
        else:
            mapped = getattr(addr, "ipv4_mapped", None)
            addr = mapped or addr
            ok = any(addr in n for n in self._networks)
        if len(self._memo) < _MEMO_MAX:
            self._memo[peer] = ok
        return ok


#: Whom the provider's routes trust (the provider has no deployment options).
DEFAULT_TRUST = Trust(())
